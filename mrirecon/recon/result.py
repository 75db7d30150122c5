"""What every solver returns."""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass
class Result:
    """``image`` ``(batch, H, W)`` (complex for MRI, real for SR3); with several samples, ``image`` is
    their mean, ``samples`` ``(n_samples, batch, H, W)`` and ``std`` the per-pixel standard deviation
    of the magnitudes; ``nfe`` network evaluations per item (all samples together: k samples of n steps
    are k·n); ``info`` solver facts (e.g. the t0 used)."""

    image: torch.Tensor
    samples: torch.Tensor | None = None
    std: torch.Tensor | None = None
    nfe: int = 0
    seconds: float = 0.0
    info: dict = dataclasses.field(default_factory=dict)


def repeat_for_samples(physics, y: torch.Tensor, n: int):
    """Tile the batch ``n`` times (sample-major) so all samples run in one network batch."""
    if n == 1:
        return physics, y
    idx = torch.arange(y.shape[0]).repeat(n).tolist()
    return physics.select(idx), y.repeat(n, *([1] * (y.dim() - 1)))


def collect(x: torch.Tensor, n: int, b: int, **kw) -> Result:
    if n == 1:
        return Result(image=x, **kw)
    s = x.reshape(n, b, *x.shape[1:])
    return Result(image=s.mean(0), samples=s, std=s.abs().std(0), **kw)
