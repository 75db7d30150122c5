"""DPS — Diffusion Posterior Sampling (Chung, Kim, Mccann, Klasky, Ye, ICLR 2023).

With few steps the paper's update (``step="paper"``: x_t −= ζ ∇_{x_t}‖y − A x̂₀‖) explodes early,
where ∂x̂₀/∂x_t ≈ 1/√ᾱ_t is huge (measured: 50 steps, ζ = 1 diverges at step 11; ζ = 0.1 gives
12.6 dB against 20.2 for zero-filling). The default ``step="x0"`` scales the gradient by ᾱ_t, so ζ
moves the image estimate by a bounded amount at every noise level (ζ = 20, 50 steps: 24.0 dB on the
same 8-coil, 30 dB, R=4 slices).

Reverse diffusion from noise (the one sampler loop); after each DDPM/DDIM step the sample moves
against the gradient of the data residual back-propagated **through the network**:
x_{t'} ← x_{t'} − ζ ∇_{x_t} ‖y − A x̂₀(x_t)‖. It costs a backward pass per step (memory several
times a forward pass), unlike RED-diff and CCDF.
"""

from __future__ import annotations

import dataclasses
import warnings

import torch

from mrirecon.diffusion.sampler import reverse_diffusion
from mrirecon.diffusion.schedule import randn_like, sample_generators
from mrirecon.recon.common import bshape, normalise_measurement
from mrirecon.recon.options import Options, opt
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result


@dataclasses.dataclass
class DPSOptions(Options):
    zeta: float = opt(20.0, "step size of the residual gradient (step=x0: in units of the image estimate, "
                      "calibrated with 50 steps on one validation cell; the paper's step=paper used ~1 with 1000 steps)",
                      min=0.0)
    steps: int | None = opt(50, "reverse steps from T (a strided DDIM subset; none: every timestep)", min=1)
    eta: float = opt(1.0, "DDIM eta: 1 ancestral, 0 deterministic", min=0.0)
    final_dc: bool = opt(False, "apply the operator's replacement map at the end")
    step: str = opt("x0", "paper: x_t -= zeta * grad_{x_t} |y - A x0|; x0: the same gradient scaled by abar_t, "
                    "i.e. a step of zeta in the units of the image estimate (stable with few steps)",
                    choices=("paper", "x0"))


@register("dps", DPSOptions, networks=("prior",), summary="diffusion posterior sampling (gradient through the prior)")
def solve(physics, y: torch.Tensor, prior, *, init=None, options: DPSOptions | None = None, generator=None,
          callback=None) -> Result:
    if init is not None:
        raise ValueError("DPS starts from noise and takes no init")
    o = options or DPSOptions()
    sched = prior.schedule
    gens = sample_generators(generator, y.shape[0], 1, y.device)
    scale, ys = normalise_measurement(physics, y)
    x = randn_like(physics.init(ys), gens)
    ts = sched.timesteps(sched.T - 1, o.steps)

    bound = ys.flatten(1).abs().pow(2).sum(1).sqrt()  # the residual of predicting zero: ‖y‖
    best = {"res": torch.full_like(bound, float("inf")), "x0": None, "step": 0}

    def guidance(xt, x0):
        # the paper's step ζ_i = ζ / ‖y − A x̂₀‖ on ∇‖y − A x̂₀‖², i.e. ζ/2 · ∇‖y − A x̂₀‖ (per item)
        resid = (physics.forward(x0) - ys).flatten(1).abs().pow(2).sum(1).sqrt()
        grad, = torch.autograd.grad(resid.sum(), xt)
        r = resid.detach()
        better = r < best["res"]
        if best["x0"] is None:
            best["x0"] = x0.detach().clone()
        best["x0"][better] = x0.detach()[better]
        best["res"] = torch.where(better, r, best["res"])
        best["step"] += 1
        # diverged: non-finite, or — past the first 20% of the steps, whose estimates from near-pure noise
        # are naturally far off — a residual above the zero image's (‖y‖) that has grown past twice the best
        late = best["step"] > 0.2 * len(ts)
        if not bool(torch.isfinite(r).all()) or (late and bool(((r > bound) & (r > 2 * best["res"])).any())):
            raise _Diverged(best["step"])
        t = ts[best["step"] - 1]
        return o.zeta * grad * (float(sched.alpha_bar(t)) if o.step == "x0" else 1.0)

    info = {}
    try:
        x = reverse_diffusion(prior, x, ts, eta=o.eta, generator=gens, guidance=guidance, callback=callback)
    except _Diverged as d:
        warnings.warn(f"DPS diverged at step {d.args[0]} of {len(ts)} (residual ‖y − A x̂₀‖ above ‖y‖ and twice its best): "
                      "stopped; returning the iterate with the smallest residual. Use a smaller zeta or more steps.",
                      stacklevel=2)
        x = best["x0"]
        info = {"diverged_at_step": d.args[0]}
    if o.final_dc:
        x = physics.consistency(x, ys)
    return Result(image=x.detach() * bshape(scale, x), nfe=len(ts), info=info)


class _Diverged(Exception):
    pass
