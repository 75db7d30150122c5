"""SR3 sampling for image-domain super-resolution (magnitude images).

``solve(physics, y, prior)`` with ``physics`` a ``Downsample`` operator and ``y`` the LR image
``(batch, h, w)``. The conditional network ε_θ(x_t, bicubic(y), √ᾱ_t) is wrapped as a prior for the
LR measurement at hand (``ConditionedPrior``) and run by the **same reverse-diffusion loop as full
diffusion and CCDF** (``recon.diffusion.run_from``):

* ``t0 = 1``: SR3 proper, from pure noise over the whole schedule (``steps`` strided DDIM/DDPM steps);
* ``t0 < 1``: the CCDF idea applied to SR3 — start from the consistent bicubic estimate
  forward-diffused to t0·T and run only the last steps.

``dc = "none"`` is plain SR3 (the network alone enforces the condition); ``dc = "x0"`` adds the
Downsample consistency (block means equal to y) after every step as CCDF does; ``final_dc`` applies it
once at the end. The network's conditioning is the continuous noise level √ᾱ_t, as in training.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.physics.sr import bicubic_upsample
from mrirecon.recon.common import bshape, measurement_scale
from mrirecon.recon.result import SampleSet
from mrirecon.recon.sampling import SamplerOptions


@dataclasses.dataclass
class SR3Options(SamplerOptions):
    t0: float = 1.0
    steps: int | None = 100
    dc: str = "none"
    final_dc: bool = True
    n_samples: int = 1


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


class ConditionedPrior:
    """SR3's conditional network as an unconditional-looking ε-prior for one LR batch.

    Called like the MRI prior on 2-channel (real, imag) images: the real channel is SR3's x_t; the
    image is known to be real, so the imaginary channel gets the ε that predicts x̂₀ = 0 there.
    ``cond``: the bicubic-upsampled LR images ``(batch, H, W)`` at the sampler's intensity scale;
    a sample-tiled batch (n_samples × batch) reuses it.
    """

    def __init__(self, prior: SR3Prior, cond: torch.Tensor):
        self.net, self.schedule, self.cond = prior.net, prior.schedule, cond

    def parameters(self):
        return self.net.parameters()

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = int(t.flatten()[0])
        ab = float(self.schedule.alpha_bar(tt))
        n = x.shape[0] // self.cond.shape[0]
        cond = self.cond.repeat(n, 1, 1)[:, None].to(x.device)
        sg = torch.full((x.shape[0],), ab ** 0.5, device=x.device)
        eps_re = self.net(x[:, :1], cond, sg)
        eps_im = x[:, 1:] / (1 - ab) ** 0.5
        return torch.cat([eps_re, eps_im], 1)


@torch.no_grad()
def solve(physics, y: torch.Tensor, prior: SR3Prior, *, options: SR3Options | None = None, seed: int = 0,
          generator=None, callback=None, **_) -> torch.Tensor:
    """Real ``(batch, H, W)`` super-resolved image (a ``SampleSet`` of real images when ``n_samples > 1``)."""
    from mrirecon.recon.diffusion import run_from

    opt = options or SR3Options()
    if not 0 < opt.t0 <= 1:
        raise ValueError(f"t0 must be in (0, 1], got {opt.t0}")
    y = (y.abs() if y.is_complex() else y).float()
    scale = measurement_scale(physics, y)  # the loop works at this scale; the condition must too
    cond = bicubic_upsample(y / bshape(scale, y), physics.factor)
    yc = y.to(torch.complex64)
    x_init = physics.init(yc) if opt.t0 < 1 else None
    out = run_from(physics, yc, ConditionedPrior(prior, cond), x_init, opt.t0, opt, generator, callback, seed)
    if torch.is_tensor(out):
        return out.real
    return SampleSet(mean=out.mean.real, std=out.samples.real.std(0), samples=out.samples.real)
