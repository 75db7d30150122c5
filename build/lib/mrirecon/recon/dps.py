"""DPS — Diffusion Posterior Sampling (Chung, Kim, Mccann, Klasky, Ye, ICLR 2023).

Reverse diffusion from noise (the one sampler loop); after each DDPM/DDIM step the sample moves
against the gradient of the data residual back-propagated **through the network**:
x_{t'} ← x_{t'} − ζ ∇_{x_t} ‖y − A x̂₀(x_t)‖. It costs a backward pass per step (memory several
times a forward pass), unlike RED-diff and CCDF.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.diffusion.sampler import reverse_diffusion
from mrirecon.diffusion.schedule import randn_like, sample_generators
from mrirecon.recon.common import bshape, normalise_measurement
from mrirecon.recon.options import Options, opt
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result


@dataclasses.dataclass
class DPSOptions(Options):
    zeta: float = opt(1.0, "step size of the residual gradient", min=0.0)
    steps: int | None = opt(1000, "reverse steps from T (a strided DDIM subset; none: every timestep)", min=1)
    eta: float = opt(1.0, "DDIM eta: 1 ancestral, 0 deterministic", min=0.0)
    final_dc: bool = opt(False, "apply the operator's replacement map at the end")


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

    def guidance(xt, x0):
        resid = (physics.forward(x0) - ys).flatten(1).abs().pow(2).sum(1).sqrt()  # per item
        grad, = torch.autograd.grad(resid.sum(), xt)
        return o.zeta * grad

    x = reverse_diffusion(prior, x, ts, eta=o.eta, generator=gens, guidance=guidance, callback=callback)
    if o.final_dc:
        x = physics.consistency(x, ys)
    return Result(image=x.detach() * bshape(scale, x), nfe=len(ts))
