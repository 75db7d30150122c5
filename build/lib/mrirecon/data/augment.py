"""Random smooth phase and geometric / intensity augmentation on torch tensors (batch-first)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def smooth_phase(shape: tuple[int, int], generator: torch.Generator | None = None, *,
                 max_amplitude: float = math.pi, cutoff: float = 0.04, batch: int = 1) -> torch.Tensor:
    """Smooth random phase maps ``(batch, H, W)`` in radians.

    A Gaussian white field low-pass filtered in k-space (Gaussian of relative width ``cutoff``),
    scaled to a random peak amplitude in [0, max_amplitude], plus a random global offset in [-π, π).
    """
    h, w = shape
    noise = torch.randn((batch, h, w), generator=generator)
    ky = torch.fft.fftfreq(h)[:, None]
    kx = torch.fft.fftfreq(w)[None, :]
    filt = torch.exp(-(kx ** 2 + ky ** 2) / (2 * cutoff ** 2))
    field = torch.fft.ifft2(torch.fft.fft2(noise) * filt).real
    field = field / field.flatten(1).abs().amax(1).clamp_min(1e-8)[:, None, None]
    amp = torch.rand((batch, 1, 1), generator=generator) * max_amplitude
    offset = (torch.rand((batch, 1, 1), generator=generator) * 2 - 1) * math.pi
    return field * amp + offset


def random_affine(x: torch.Tensor, generator: torch.Generator | None = None, *, max_rot_deg: float = 10.0,
                  scale: tuple[float, float] = (0.9, 1.1), flip: bool = True) -> torch.Tensor:
    """Random flips, small rotation and zoom of real images ``(batch, C, H, W)``."""
    b = x.shape[0]
    if flip:
        fl = torch.rand(b, generator=generator) < 0.5
        x = torch.where(fl[:, None, None, None], x.flip(-1), x)
        fu = torch.rand(b, generator=generator) < 0.5
        x = torch.where(fu[:, None, None, None], x.flip(-2), x)
    ang = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_rot_deg)
    s = scale[0] + torch.rand(b, generator=generator) * (scale[1] - scale[0])
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1),
                         torch.stack([sin, cos, torch.zeros(b)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_crop(x: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Independent random crops ``size × size`` of ``(batch, C, H, W)``."""
    b, _, h, w = x.shape
    if size >= h and size >= w:
        return x
    ys = torch.randint(0, h - size + 1, (b,), generator=generator).tolist()
    xs = torch.randint(0, w - size + 1, (b,), generator=generator).tolist()
    return torch.stack([x[i, :, y:y + size, xx:xx + size] for i, (y, xx) in enumerate(zip(ys, xs))])
