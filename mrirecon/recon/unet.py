"""Feed-forward U-Net reconstruction: x = U(x_in), optionally followed by data consistency.

x_in is what the network was trained on (``model.meta["input"]``): the zero-filled image A^H y,
or for multi-coil data the CG-SENSE image argmin ‖Ax − y‖² + μ‖x‖² (``mode="sense"``; for
single-coil data this equals the zero-filled image up to scale). Batched over slices; x_in is
normalised by its peak (as in training) and the output rescaled. ``final_dc="cg"`` solves
argmin ‖Ax − y‖² + μ_dc‖x − U(x_in)‖² (parallel imaging around the network's estimate).
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.recon.common import bshape, channels_to_complex, complex_to_channels


@dataclasses.dataclass
class UNetOptions:
    final_dc: bool | str = False  # False | True ("replace" map) | "cg" | "auto" (cg for SENSE, else none)
    dc_mode: str = "replace"
    dc_weight: float = 1.0
    dc_mu: float = 0.02
    dc_iters: int = 20


def network_input(physics, y: torch.Tensor, spec: dict | None) -> torch.Tensor:
    """The U-Net's input image for measurement y, as defined by its training (``spec``)."""
    from mrirecon.physics.operators import MultiCoilMRI
    from mrirecon.physics.cg import cg_dc

    if spec and spec.get("mode") == "sense" and isinstance(physics, MultiCoilMRI):
        x0 = torch.zeros_like(physics.adjoint(y))
        return cg_dc(physics, y, x0, float(spec.get("mu", 0.01)), int(spec.get("iters", 10)))
    return physics.init(y)


@torch.no_grad()
def solve(physics, y: torch.Tensor, prior=None, *, model, options: UNetOptions | None = None, **_) -> torch.Tensor:
    """``model``: a ``mrirecon.models.unet.UNet``; returns complex ``(batch, H, W)``."""
    opt = options or UNetOptions()
    xin = network_input(physics, y, getattr(model, "meta", {}).get("input"))
    scale = xin.abs().flatten(1).amax(1).clamp_min(1e-12)
    dev = next(model.parameters()).device
    x = channels_to_complex(model(complex_to_channels(xin / bshape(scale, xin)).to(dev))).to(y.device)
    x = x * bshape(scale, x)
    final_dc = opt.final_dc
    if final_dc == "auto":
        from mrirecon.physics.operators import MultiCoilMRI

        final_dc = "cg" if isinstance(physics, MultiCoilMRI) else False
    if final_dc == "cg":
        from mrirecon.physics.cg import cg_dc

        x = cg_dc(physics, y, x, opt.dc_mu, opt.dc_iters)
    elif final_dc:
        x = physics.consistency(x, y, opt.dc_mode, opt.dc_weight)
    return x
