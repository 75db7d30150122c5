"""The one boundary between complex images (physics) and the networks' real channels."""

from __future__ import annotations

import torch


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """``(batch, H, W)`` complex → ``(batch, 2, H, W)`` real (real, imag)."""
    return torch.stack([x.real, x.imag], 1)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """``(batch, 2, H, W)`` real → ``(batch, H, W)`` complex64."""
    return torch.complex(x[:, 0].float(), x[:, 1].float())
