"""SR3 (Saharia et al., "Image Super-Resolution via Iterative Refinement") for image-domain SR.

``solve(physics, y, prior)`` with ``physics`` a ``Downsample`` operator, ``y`` the LR image
``(batch, h, w)`` (real) and ``prior`` a conditional ``DiffusionPrior`` (the SR3 network). The prior
is bound to the bicubic-upsampled LR image and run by the same conditional sampler as full diffusion
and CCDF (``recon.sampling.posterior_sample``):

* ``t0 = 1``: SR3 proper, from pure noise (``steps`` strided DDIM/DDPM steps);
* ``t0 < 1``: the CCDF idea applied to SR3 — start from the consistent bicubic estimate
  forward-diffused to t0·T.

``dc = "none"`` is plain SR3; ``dc = "x0"`` adds the Downsample consistency after every step;
``final_dc`` applies it once at the end.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.recon.common import bshape, measurement_scale
from mrirecon.recon.options import Options, opt
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result
from mrirecon.recon.sampling import SamplerOptions, posterior_sample


@dataclasses.dataclass
class BicubicOptions(Options):
    """Bicubic interpolation has no options."""


@register("bicubic", BicubicOptions, task="sr", summary="bicubic interpolation (clamped at 0)")
def solve_bicubic(physics, y: torch.Tensor, prior=None, *, init=None, options: BicubicOptions | None = None,
                  generator=None, callback=None) -> Result:
    return Result(image=physics.upsample(y.real if y.is_complex() else y).clamp_min(0))


@dataclasses.dataclass
class SR3Options(SamplerOptions):
    t0: float = opt(1.0, "1: SR3 from noise; < 1: start from the bicubic image diffused to t0", min=0.0, max=1.0,
                    min_open=True)
    steps: int | None = opt(100, "reverse steps (a strided DDIM subset; none: every timestep)", min=1)
    dc: str = opt("none", "block-mean consistency after every step on x0, on x_t, or none (plain SR3)",
                  choices=("x0", "xt", "none"))


@register("sr3", SR3Options, task="sr", networks=("sr3",), summary="SR3 conditional diffusion")
@torch.no_grad()
def solve(physics, y: torch.Tensor, prior, *, init=None, options: SR3Options | None = None, generator=None,
          callback=None) -> Result:
    """Real ``Result`` ``(batch, H, W)`` (mean, samples and std when ``n_samples > 1``)."""
    o = options or SR3Options()
    y = (y.abs() if y.is_complex() else y).float()
    scale = measurement_scale(physics, y)  # the loop works at this scale; the condition must too
    cond = physics.upsample(y / bshape(scale, y))
    yc = y.to(torch.complex64)
    x_init = init if init is not None else (physics.init(yc) if o.t0 < 1 else None)
    r = posterior_sample(physics, yc, prior.conditioned(cond), x_init, o.t0, o, generator, callback)
    return Result(image=r.image.real, samples=None if r.samples is None else r.samples.real,
                  std=None if r.samples is None else r.samples.real.std(0), nfe=r.nfe, info=r.info)
