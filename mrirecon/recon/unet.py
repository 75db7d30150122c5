"""Feed-forward U-Net reconstruction: x = U(A^H y), optionally followed by data consistency.

Batched over slices; the zero-filled image is normalised by its peak (as in training) and the
output rescaled.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.recon.common import bshape, channels_to_complex, complex_to_channels, measurement_scale


@dataclasses.dataclass
class UNetOptions:
    final_dc: bool = False
    dc_mode: str = "replace"
    dc_weight: float = 1.0


@torch.no_grad()
def solve(physics, y: torch.Tensor, prior=None, *, model, options: UNetOptions | None = None, **_) -> torch.Tensor:
    """``model``: a ``mrirecon.models.unet.UNet``; returns complex ``(batch, H, W)``."""
    opt = options or UNetOptions()
    scale = measurement_scale(physics, y)
    zf = physics.init(y) / bshape(scale, y[:, 0] if y.dim() == 4 else y)
    dev = next(model.parameters()).device
    x = channels_to_complex(model(complex_to_channels(zf).to(dev))).to(y.device)
    x = x * bshape(scale, x)
    if opt.final_dc:
        x = physics.consistency(x, y, opt.dc_mode, opt.dc_weight)
    return x
