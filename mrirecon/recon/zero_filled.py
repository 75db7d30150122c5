"""Zero-filled reconstruction: ``x = A^H y`` (the SENSE-combined image for multi-coil data)."""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.recon.options import Options
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result


@dataclasses.dataclass
class ZeroFilledOptions(Options):
    """Zero-filled reconstruction has no options."""



@register("zero-filled", ZeroFilledOptions, summary="A^H y (SENSE-combined for multi-coil data)")
def solve(physics, y: torch.Tensor, prior=None, *, init=None, options: ZeroFilledOptions | None = None,
          generator=None, callback=None) -> Result:
    """y: measurement → ``Result`` with the complex image ``(batch, H, W)``."""
    return Result(image=physics.init(y))
