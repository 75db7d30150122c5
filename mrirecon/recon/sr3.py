"""SR3 sampling for image-domain super-resolution (magnitude images).

``solve(physics, y, prior)`` with ``physics`` a ``Downsample`` operator and ``y`` the LR image
``(batch, h, w)``: the condition is the bicubic upsampling of y. Sampling runs DDPM/DDIM steps with
the noise level √ᾱ_t as the network's conditioning, either the full schedule from pure noise
(t0 = 1) or — the CCDF idea applied to SR3 — from the upsampled estimate forward-diffused to
t0·T. ``final_dc`` applies the Downsample consistency (block means equal to y) at the end.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.diffusion.schedule import item_generators, randn_like
from mrirecon.physics.sr import bicubic_upsample


@dataclasses.dataclass
class SR3Options:
    t0: float = 1.0
    steps: int | None = 100
    eta: float = 1.0
    final_dc: bool = False


@dataclasses.dataclass
class SR3Prior:
    net: torch.nn.Module
    schedule: object

    @classmethod
    def load(cls, folder, device="cpu"):
        import mrirecon.models.sr3  # noqa: F401
        from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
        from mrirecon.models.io import load_model

        net = load_model(folder, device=device)
        return cls(net.eval(), VPSchedule(ScheduleConfig(**net.meta.get("schedule", {}))))


@torch.no_grad()
def solve(physics, y: torch.Tensor, prior: SR3Prior, *, options: SR3Options | None = None, seed: int = 0,
          generator=None, **_) -> torch.Tensor:
    """Real ``(batch, H, W)`` super-resolved magnitude image."""
    opt = options or SR3Options()
    sched = prior.schedule
    y = y.abs() if y.is_complex() else y
    up = bicubic_upsample(y.float(), physics.factor)
    peak = up.flatten(1).amax(1).clamp_min(1e-6)[:, None, None]
    cond = (up / peak)[:, None]
    if generator is None:
        generator = item_generators(seed, y.shape[0], y.device)
    t_start = max(min(int(round(opt.t0 * sched.T)) - 1, sched.T - 1), 0)
    x = sched.q_sample(cond[:, 0] if opt.t0 < 1 else torch.zeros_like(cond[:, 0]), t_start,
                       randn_like(cond[:, 0], generator))
    ts = sched.timesteps(t_start, opt.steps)
    dev = next(prior.net.parameters()).device
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        sg = torch.full((len(x),), float(sched.alpha_bar(t)) ** 0.5)
        eps = prior.net(x[:, None].to(dev), cond.to(dev), sg.to(dev))[:, 0].to(x.device)
        x0 = sched.predict_x0(x, t, eps).clamp(-0.5, 2.0)
        x = sched.step(x0, eps, t, t_prev, opt.eta, generator)
    x = x.clamp_min(0) * peak
    if opt.final_dc:
        x = physics.consistency(x, y.float())
    return x
