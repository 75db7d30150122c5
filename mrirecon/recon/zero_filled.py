"""Zero-filled reconstruction: ``x = A^H y`` (the SENSE-combined image for multi-coil)."""

from __future__ import annotations

import torch


def solve(physics, y: torch.Tensor, prior=None, **_) -> torch.Tensor:
    """y: measurement → complex image ``(batch, H, W)``."""
    return physics.init(y)
