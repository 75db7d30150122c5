"""Image-domain downsampling for super-resolution: ``A = average over factor × factor blocks``.

``A A^H = I / factor²`` so ``‖A‖ = 1/factor`` and the pseudo-inverse is ``A⁺ = factor² A^H``
(nearest-neighbour upsampling). ``consistency`` replaces the block means (the low-pass content
this operator measures) by the measurement: ``x ← x − A⁺(A x − y)``, an orthogonal projection.
Works on real or complex ``(batch, H, W)`` with H, W divisible by the factor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mrirecon.physics.linop import LinearOp


def _pool(x: torch.Tensor, f: int) -> torch.Tensor:
    if x.is_complex():
        return torch.complex(_pool(x.real, f), _pool(x.imag, f))
    return F.avg_pool2d(x[:, None], f)[:, 0]


def _up_nearest(y: torch.Tensor, f: int) -> torch.Tensor:
    return y.repeat_interleave(f, -2).repeat_interleave(f, -1)


def bicubic_upsample(y: torch.Tensor, f: int) -> torch.Tensor:
    """Bicubic upsampling ``(batch, h, w)`` → ``(batch, f·h, f·w)`` (real or complex)."""
    if y.is_complex():
        return torch.complex(bicubic_upsample(y.real, f), bicubic_upsample(y.imag, f))
    return F.interpolate(y[:, None].float(), scale_factor=f, mode="bicubic", align_corners=False)[:, 0]


class Downsample(LinearOp):
    def __init__(self, factor: int):
        if int(factor) != factor or factor < 1:
            raise ValueError(f"downsampling factor must be a positive integer, got {factor}")
        self.factor = int(factor)
        self.gram_norm = 1.0 / self.factor ** 2

    def _check(self, x):
        h, w = x.shape[-2:]
        if h % self.factor or w % self.factor:
            raise ValueError(f"image size {h}x{w} is not divisible by the factor {self.factor}")

    def forward(self, x):
        self._check(x)
        return _pool(x, self.factor)

    def adjoint(self, y):
        return _up_nearest(y, self.factor) / self.factor ** 2

    def pinv(self, y):
        return _up_nearest(y, self.factor)

    def init(self, y):
        """Bicubic upsampling, corrected to be exactly consistent with ``y``."""
        return self.consistency(bicubic_upsample(y, self.factor), y)

    def _replace(self, x, y, w):
        return x - w * self.pinv(self.forward(x) - y)

    def select(self, idx):
        return self._carry_noise(Downsample(self.factor), idx)

    def to(self, device):
        return self
