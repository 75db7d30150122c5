"""What a sampling solver returns when asked for several samples."""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class SampleSet:
    """``mean`` ``(batch, H, W)`` complex, ``std`` ``(batch, H, W)`` per-pixel std of the magnitudes,
    ``samples`` ``(n_samples, batch, H, W)`` complex."""

    mean: torch.Tensor
    std: torch.Tensor
    samples: torch.Tensor


def repeat_for_samples(physics, y: torch.Tensor, n: int):
    """Tile the batch ``n`` times (sample-major) so all samples run in one network batch."""
    if n == 1:
        return physics, y
    idx = torch.arange(y.shape[0]).repeat(n).tolist()
    return physics.select(idx), y.repeat(n, *([1] * (y.dim() - 1)))


def collect(x: torch.Tensor, n: int, b: int) -> torch.Tensor | SampleSet:
    if n == 1:
        return x
    s = x.reshape(n, b, *x.shape[1:])
    return SampleSet(mean=s.mean(0), std=s.abs().std(0), samples=s)
