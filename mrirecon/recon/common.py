"""Helpers shared by the solvers: intensity normalisation, chunking, networks' complex boundary."""

from __future__ import annotations

import torch

from mrirecon.data.datasets import channels_to_complex, complex_to_channels


def measurement_scale(physics, y: torch.Tensor, quantile: float = 1.0) -> torch.Tensor:
    """Per-item scale ``(batch,)``: peak magnitude of the zero-filled image ``A^H y``.

    The networks were trained on images whose magnitude peak is ~1; solvers divide ``y`` by this
    scale and multiply the result back.
    """
    x = physics.init(y).abs().flatten(1)
    s = x.amax(1) if quantile >= 1 else torch.quantile(x, quantile, dim=1)
    return s.clamp_min(1e-12)


def normalise_measurement(physics, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale (batch,), y / scale)``: the measurement at the networks' intensity scale."""
    scale = measurement_scale(physics, y)
    return scale, y / bshape(scale, y)


def bshape(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def eps_net(prior, x: torch.Tensor, t) -> torch.Tensor:
    """Apply ε_θ to complex ``(batch, H, W)`` at integer t → complex ε̂ (the network boundary)."""
    dev = x.device
    tt = torch.as_tensor(t, device=dev)
    if tt.dim() == 0:
        tt = tt.expand(x.shape[0])
    return channels_to_complex(prior(complex_to_channels(x), tt))


__all__ = ["measurement_scale", "normalise_measurement", "bshape", "eps_net", "channels_to_complex", "complex_to_channels"]
