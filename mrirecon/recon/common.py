"""Helpers shared by the solvers: intensity normalisation and the initial estimate."""

from __future__ import annotations

import torch


def measurement_scale(physics, y: torch.Tensor) -> torch.Tensor:
    """Per-item scale ``(batch,)``: peak magnitude of ``A^H y``. The networks were trained on images
    whose magnitude peak is ~1; solvers divide ``y`` by this scale and multiply the result back."""
    return physics.init(y).abs().flatten(1).amax(1).clamp_min(1e-12)


def bshape(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.dim() - 1)))


def normalise_measurement(physics, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(scale (batch,), y / scale)``: the measurement at the networks' intensity scale."""
    scale = measurement_scale(physics, y)
    return scale, y / bshape(scale, y)


INIT_CHOICES = ("unet", "zero-filled", "zeros")


def initial_estimate(physics, y: torch.Tensor, init, name: str) -> torch.Tensor:
    """The starting image of CCDF / RED-diff at ``y``'s scale.

    ``init`` is a tensor ``(batch, H, W)`` (used as is), a U-Net network (its raw estimate, without the
    ``unet`` method's final data consistency: the solvers apply their own; the SR U-Net's estimate is
    projected onto the consistent images, like the bicubic start), any callable
    ``init(physics, y) -> image``, or one of the names ``"zero-filled"`` (``physics.init(y)``) and
    ``"zeros"``; ``"unet"`` without a network is an error.
    """
    if torch.is_tensor(init):
        return init
    if isinstance(init, torch.nn.Module):
        from mrirecon.recon.unet import UNetOptions, UNetSROptions, is_sr_network, reconstruct, reconstruct_sr

        if is_sr_network(init):  # the SR U-Net: its estimate, made consistent (the exact projection)
            return reconstruct_sr(physics, y, init, UNetSROptions())
        return reconstruct(physics, y, init, UNetOptions(final_dc="none", passes=1))
    if callable(init):
        return init(physics, y)
    if init == "zero-filled":
        return physics.init(y)
    if init == "zeros":
        return torch.zeros_like(physics.init(y))
    if init == "unet":
        raise ValueError(f"{name} with init='unet' needs the U-Net: pass init=<U-Net network> "
                         "(mrirecon.models.load_model(<weights>)), or set the option init='zero-filled'")
    raise ValueError(f"unknown {name} init {init!r}: a tensor, a U-Net, a callable or one of {', '.join(INIT_CHOICES)}")
