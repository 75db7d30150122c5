"""The conditional reverse-diffusion loop shared by full reverse diffusion and CCDF.

``reverse_diffusion`` runs DDIM/DDPM steps over a descending list of timesteps with the operator's
non-expansive data-consistency map after each step, in one of two placements:

* ``dc="x0"``: the consistency map acts on the denoised estimate x̂₀ before re-noising
  (x_{t'} = √ᾱ_{t'} P(x̂₀) + √(1−ᾱ_{t'}−σ²) ε̂ + σ z);
* ``dc="xt"``: a plain step, then the map acts on x_{t'} against the measurement noised to level t'
  (y_{t'} = √ᾱ_{t'} y + √(1−ᾱ_{t'}) A z), as in score-MRI / CCDF's original code.

Images are complex ``(batch, H, W)`` at the networks' scale (peak magnitude ~1).
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.diffusion.schedule import VPSchedule, randn_like
from mrirecon.recon.common import eps_net


@dataclasses.dataclass
class SamplerOptions:
    steps: int | None = None  # None: every timestep from t_start; else a strided DDIM subset
    eta: float = 1.0  # 1 = DDPM ancestral (with consecutive steps), 0 = deterministic DDIM
    dc: str = "x0"  # "x0" | "xt" | "none" (no per-step map; ``final_dc`` still applies when set)
    dc_mode: str = "replace"  # "replace" | "soft" | "prox" (CG; uses the coil redundancy for SENSE)
    dc_weight: float = 1.0
    final_dc: bool = True
    clip_x0: float | None = 2.0  # clamp |x̂0| (the training images peak at ~1)


def _clip(x: torch.Tensor, c: float | None) -> torch.Tensor:
    if c is None:
        return x
    mag = x.abs()
    return torch.where(mag > c, x / mag.clamp_min(1e-12) * c, x)


@torch.no_grad()
def reverse_diffusion(prior, schedule: VPSchedule, physics, y: torch.Tensor, x: torch.Tensor, t_start: int,
                      opts: SamplerOptions, generator: torch.Generator | None = None, callback=None) -> torch.Tensor:
    """Run the reverse process from ``x`` at timestep ``t_start`` down to a clean image.

    Returns the final complex image; the number of network evaluations is ``len(timesteps)``.
    """
    ts = schedule.timesteps(t_start, opts.steps)
    for i, t in enumerate(ts):
        t_prev = ts[i + 1] if i + 1 < len(ts) else -1
        eps = eps_net(prior, x, t)
        x0 = _clip(schedule.predict_x0(x, t, eps), opts.clip_x0)
        if opts.dc == "x0":
            x0 = physics.consistency(x0, y, opts.dc_mode, opts.dc_weight)
        x = schedule.step(x0, eps, t, t_prev, opts.eta, generator)
        if opts.dc == "xt" and t_prev >= 0:
            ab = float(schedule.alpha_bar(t_prev))
            z = randn_like(x, generator)
            y_t = ab ** 0.5 * y + (1 - ab) ** 0.5 * physics.forward(z)
            x = physics.consistency(x, y_t, opts.dc_mode, opts.dc_weight)
        if callback is not None:
            callback(i, t, x, x0)
    if opts.final_dc:
        x = physics.consistency(x, y, opts.dc_mode, opts.dc_weight)
    return x


def sample_nfe(schedule: VPSchedule, t_start: int, steps: int | None) -> int:
    return len(schedule.timesteps(t_start, steps))
