"""Conditional sampling from an estimate (or from noise) with the one reverse-diffusion loop.

``posterior_sample`` normalises the measurement to the networks' scale, tiles the batch for several
samples, forward-diffuses the initial estimate once to ⌈t0·T⌉ (zeros and t0 = 1: pure noise), runs
``mrirecon.diffusion.sampler.reverse_diffusion`` with the operator's data-consistency map, applies
the final consistency and scales back. Full diffusion (t0 = 1), CCDF (t0 < 1 from an estimate) and
SR3 (a conditional prior) are this function with other arguments.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.diffusion.sampler import consistency_hooks, reverse_diffusion
from mrirecon.diffusion.schedule import StepNoise, randn_like, sample_generators
from mrirecon.recon.common import bshape, measurement_scale
from mrirecon.recon.options import Options, opt
from mrirecon.recon.result import collect, repeat_for_samples


@dataclasses.dataclass
class SamplerOptions(Options):
    steps: int | None = opt(None, "reverse steps: a strided DDIM subset (none: every timestep)", min=1)
    eta: float = opt(1.0, "DDIM eta: 1 ancestral (DDPM with consecutive steps), 0 deterministic", min=0.0)
    dc: str = opt("x0", "data consistency on the denoised x0, on x_t (noised measurement) or none",
                  choices=("x0", "xt", "none"))
    dc_mode: str = opt("replace", "consistency map: replace measured samples, soft step, prox (CG to convergence), "
                       "krylov (dc_iters CG steps from x0, DDS)", choices=("replace", "soft", "prox", "krylov"))
    dc_weight: float | str = opt(1.0, "soft: step in (0, 1]; prox: weight mu > 0; krylov: gamma >= 0; auto: "
                                 "mu_t = sigma_n^2 / sigmabar_t^2 from the data's noise (prox / krylov)",
                                 choices=("auto",), min=0.0)
    dc_iters: int = opt(15, "CG iterations of prox / krylov consistency", min=1)
    dc_lambda: float = opt(1.0, "dc_weight=auto: mu_t = dc_lambda * sigma_n^2 / sigmabar_t^2 (DiffPIR's lambda)",
                           min=0.0, min_open=True)
    final_dc: bool = opt(True, "apply the consistency map once more at the end")
    clip_x0: float | None = opt(2.0, "clamp |x0| of the Tweedie estimate (training images peak at ~1)",
                                min=0.0, min_open=True)
    n_samples: int = opt(1, "samples per slice: the result is their mean, with a per-pixel std map", min=1,
                         aliases=("--samples",))
    sigma_scale: float = opt(1.0, "scale the noise levels of the reverse steps: step t runs at the timestep whose "
                             "sigma is sigma_scale x sigma_t (< 1: more steps at low noise)", min=0.0, max=1.0,
                             min_open=True)
    renoise: str = opt("fresh", "noise added by the reverse steps: fresh draws, or antithetic pairs (a draw, then its "
                       "negative at the next step: less sampling variance at the same NFE, so the std over n_samples "
                       "then understates the posterior's spread; use fresh for uncertainty maps)",
                       choices=StepNoise.CHOICES)
    spacing: str = opt("linear", "timestep grid of the reverse steps: linear, or quadratic (DiffPIR's: dense near "
                       "t = 0)", choices=("linear", "quadratic"))
    diffpir_zeta: float | None = opt(None, "DiffPIR's update instead of DDIM's: the noise implied by the corrected x0, "
                             "mixed with fresh noise by zeta in [0, 1] (none: DDIM with eta)", min=0.0, max=1.0)


def posterior_sample(physics, y: torch.Tensor, prior, x_init: torch.Tensor | None, t0: float, o: SamplerOptions,
                     generator=None, callback=None, info: dict | None = None):
    """Run the conditional reverse process from ``x_init`` (None: zeros) diffused to t0·T; returns a
    ``Result`` at ``y``'s scale."""
    b, n = y.shape[0], o.n_samples
    gens = sample_generators(generator, b, n, y.device)
    scale = measurement_scale(physics, y)
    phys, ys = repeat_for_samples(physics, y, n)
    sc = scale.repeat(n)
    ys = ys / bshape(sc, ys)
    if x_init is None:
        x0 = torch.zeros(phys.init(ys).shape, dtype=torch.complex64, device=y.device)
    else:
        xi = x_init.repeat(n, *([1] * (x_init.dim() - 1)))
        x0 = xi / bshape(sc, xi)
    sched = prior.schedule
    t_start = sched.start_index(t0)
    x = sched.q_sample(x0, t_start, randn_like(x0, gens))
    ts = sched.scale_sigmas(sched.timesteps(t_start, o.steps, spacing=o.spacing), o.sigma_scale)
    weight, mode = o.dc_weight, o.dc_mode
    info = dict(info or {})
    if weight == "auto":
        from mrirecon.recon.weights import normalised_sigma, prox_mu_at

        sig = normalised_sigma(physics, y, scale)
        if sig is None:  # e.g. a super-resolution operator: nothing to estimate σ from
            import warnings

            warnings.warn("dc_weight='auto' needs the noise level, which this operator neither has nor can "
                          "estimate (set it with physics.with_noise(sigma)); using exact consistency (replace)")
            weight, mode = 1.0, "replace"
            info["dc_fallback"] = "no noise level: replace"
        else:
            sig_n = sig.repeat(n)
            weight = lambda t: prox_mu_at(sig_n, sched, max(t, 0), o.dc_lambda)  # noqa: E731
            info["noise_sigma_normalised"] = [round(float(v), 6) for v in sig]
    x0_map, xt_map = consistency_hooks(phys, ys, o.dc, mode, weight, sched, gens, o.dc_iters)
    x = reverse_diffusion(prior, x, ts, eta=o.eta, generator=gens, clip_x0=o.clip_x0, x0_map=x0_map, xt_map=xt_map,
                          callback=callback, zeta=o.diffpir_zeta, renoise=o.renoise)
    if o.final_dc:
        x = phys.consistency(x, ys, mode, weight(0) if callable(weight) else weight, o.dc_iters)
    x = x * bshape(sc, x)
    return collect(x, n, b, nfe=len(ts) * n, info=dict(info, t0=t0))  # every sample's evaluations
