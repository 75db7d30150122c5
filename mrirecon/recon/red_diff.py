"""RED-diff (Mardani, Song, Kautz, Vahdat: "A Variational Perspective on Solving Inverse Problems
with Diffusion Models", ICLR 2024).

The image μ (complex) is optimised directly with Adam. Iteration i uses a timestep t_i descending
from ``t_max``·T to 0 (the schedule's ``timesteps(..., unique=False)`` — the samplers' list with
repeats allowed), draws ε, forms x_t = √ᾱ_t μ + √(1−ᾱ_t) ε, evaluates ε̂ = ε_θ(x_t, t) **under
torch.no_grad()**, and steps on

    loss = obs_weight · ‖y − A μ‖² / (2 · 2N · ‖A^H A‖)  +  λ · w(t) · mean(sg(ε̂ − ε) · μ)

(N pixels per image; the data term is divided by ``gram_norm`` — 1 for the MRI operators, 1/factor²
for ``Downsample``) with the SNR weight w(t) = σ_t/α_t ("snr"), its "sqrt", "square", or "const" 1.
One network evaluation per iteration and no back-propagation through the network.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.diffusion.schedule import randn_like, sample_generators
from mrirecon.recon.common import INIT_CHOICES, bshape, initial_estimate, normalise_measurement
from mrirecon.recon.options import Options, opt
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result

WEIGHTINGS = ("snr", "sqrt", "square", "const")


@dataclasses.dataclass
class REDDiffOptions(Options):
    lamda: float = opt(0.25, "weight of the diffusion regulariser", min=0.0)
    lr: float = opt(0.1, "Adam learning rate", min=0.0)
    betas: tuple[float, float] = opt((0.9, 0.99), "Adam betas")
    steps: int = opt(100, "iterations (one network evaluation each)", min=1)
    weighting: str = opt("snr", "regulariser weight w(t)", choices=WEIGHTINGS)
    obs_weight: float | str = opt(1.0, "weight of the data term, or auto: (sigma_ref / sigma_n)^2 — the data term "
                                  "scales as 1/sigma^2 (MAP), anchored where lamda was tuned (recon.weights)",
                                  choices=("auto",), min=0.0)
    init: str = opt("unet", "initial estimate when solve() gets none: unet (needs the network), zero-filled, zeros",
                    choices=INIT_CHOICES)
    t_max: float = opt(0.3, "fraction of T where the descending timesteps start", min=0.0, max=1.0, min_open=True)
    final_dc: bool = opt(False, "apply the operator's replacement map at the end")


@dataclasses.dataclass
class REDDiffSROptions(REDDiffOptions):
    """RED-diff for super-resolution: the paper's start (from the consistent bicubic image, t from T),
    200 iterations, final block-mean consistency (an exact projection; +0.1–0.5 dB measured)."""

    steps: int = opt(200, "iterations (one network evaluation each)", min=1)
    init: str = opt("zero-filled", "initial estimate: zero-filled (consistent bicubic), zeros", choices=INIT_CHOICES)
    t_max: float = opt(1.0, "fraction of T where the descending timesteps start", min=0.0, max=1.0, min_open=True)
    final_dc: bool = opt(True, "apply the operator's replacement map at the end")


def weight(schedule, t: int, kind: str) -> float:
    w = float(schedule.sigma_over_alpha(t))
    return {"snr": w, "sqrt": w ** 0.5, "square": w ** 2, "const": 1.0}[kind]


def _solve(physics, y, prior, init, o, generator, callback) -> Result:
    sched = prior.schedule
    gens = sample_generators(generator, y.shape[0], 1, y.device)
    scale, ys = normalise_measurement(physics, y)
    # the start at y's scale, then normalised: a U-Net start reads the operator's noise level, which is y's
    # (an input that follows the noise would otherwise see it at the wrong scale)
    mu0 = initial_estimate(physics, y, o.init if init is None else init, "RED-diff")
    mu0 = mu0 / bshape(scale, mu0)
    obs = o.obs_weight
    if obs == "auto":
        from mrirecon.recon.weights import normalised_sigma, red_diff_obs_weight

        sig = normalised_sigma(physics, y, scale)
        if sig is None:
            raise ValueError("obs_weight='auto' needs the noise level, which this operator cannot estimate")
        obs = red_diff_obs_weight(sig)  # (batch,): one weight per item
    mu = torch.view_as_real(mu0.detach().clone()).requires_grad_(True)  # (B, H, W, 2) real leaf
    adam = torch.optim.Adam([mu], lr=o.lr, betas=o.betas)
    n_real = mu[0].numel()
    ts = sched.timesteps(sched.start_index(o.t_max), o.steps, unique=False)
    for i, t in enumerate(ts):
        m = torch.view_as_complex(mu)
        eps = randn_like(m, gens)
        ab = float(sched.alpha_bar(t))
        with torch.no_grad():
            xt = ab ** 0.5 * m.detach() + (1 - ab) ** 0.5 * eps
            eps_hat = prior.eps(xt, t)
        g = torch.view_as_real(eps_hat - eps)  # stop-gradient by construction
        loss_reg = (g * mu).sum() / n_real
        resid = physics.forward(m) - ys
        per_item = (resid.abs() ** 2).flatten(1).sum(1) / (2 * n_real * physics.gram_norm)
        loss_obs = (obs * per_item).sum() if torch.is_tensor(obs) else obs * per_item.sum()
        loss = loss_obs + o.lamda * weight(sched, t, o.weighting) * loss_reg
        adam.zero_grad(set_to_none=True)
        loss.backward()
        adam.step()
        if callback is not None:
            callback(i, t, torch.view_as_complex(mu.detach()), float(loss))
    x = torch.view_as_complex(mu.detach()).clone()
    if o.final_dc:
        x = physics.consistency(x, ys)
    return Result(image=x * bshape(scale, x), nfe=len(ts))


@register("red-diff", REDDiffOptions, networks=("prior", "unet"), summary="RED-diff from the U-Net estimate")
def solve(physics, y: torch.Tensor, prior, *, init=None, options: REDDiffOptions | None = None, generator=None,
          callback=None) -> Result:
    """Complex ``Result``. ``init``: a tensor, the U-Net network, a callable or None (``options.init``)."""
    return _solve(physics, y, prior, init, options or REDDiffOptions(), generator, callback)


@register("red-diff", REDDiffSROptions, task="sr", networks=("prior",), summary="RED-diff from the bicubic image")
def solve_sr(physics, y: torch.Tensor, prior, *, init=None, options: REDDiffSROptions | None = None, generator=None,
             callback=None) -> Result:
    """RED-diff with the super-resolution defaults (the same code as ``solve``)."""
    return _solve(physics, y, prior, init, options or REDDiffSROptions(), generator, callback)
