"""DPS — Diffusion Posterior Sampling (Chung, Kim, Mccann, Klasky, Ye, ICLR 2023).

Reverse diffusion from noise; after each (DDPM / DDIM) step the sample moves against the gradient
of the data residual ‖y − A x̂₀(x_t)‖ back-propagated **through the network**:
x_{t'} ← x_{t'} − ζ ∇_{x_t} ‖y − A x̂₀(x_t)‖. This is the posterior-sampling baseline; it costs a
backward pass per step (memory several times a forward pass), unlike RED-diff and CCDF.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.diffusion.schedule import item_generators, randn_like
from mrirecon.recon.common import bshape, eps_net, normalise_measurement


@dataclasses.dataclass
class DPSOptions:
    zeta: float = 1.0
    steps: int | None = 1000
    eta: float = 1.0
    final_dc: bool = False


def solve(physics, y: torch.Tensor, prior, *, options: DPSOptions | None = None,
          seed: int = 0, generator=None, callback=None, **_) -> torch.Tensor:
    opt = options or DPSOptions()
    sched = prior.schedule
    if generator is None:
        generator = item_generators(seed, y.shape[0], y.device)
    scale, ys = normalise_measurement(physics, y)
    x = randn_like(physics.init(ys), generator)
    ts = sched.timesteps(sched.T - 1, opt.steps)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        xg = x.detach().requires_grad_(True)
        eps = eps_net(prior, xg, t)
        x0 = sched.predict_x0(xg, t, eps)
        resid = (physics.forward(x0) - ys).flatten(1).abs().pow(2).sum(1).sqrt()  # per item
        grad, = torch.autograd.grad(resid.sum(), xg)
        with torch.no_grad():
            x = sched.step(x0.detach(), eps.detach(), t, t_prev, opt.eta, generator)
            x = x - opt.zeta * grad
        if callback is not None:
            callback(i, t, x, x0.detach())
    if opt.final_dc:
        x = physics.consistency(x, ys)
    return x.detach() * bshape(scale, x)
