"""Feed-forward U-Net reconstruction: x = U(x_in), optionally followed by data consistency — for MRI
(``solve``) and for super-resolution (``solve_sr``: the SR U-Net from the operator's cubic
upsampling, then the exact consistency projection).

x_in is what the network was trained on (``models.unet.prepare_input``, the function training uses
too): ``A^H y``, or for multi-coil data the CG-SENSE image. ``final_dc="cg"`` solves
argmin ‖Ax − y‖² + μ_dc‖x − U(x_in)‖² (parallel imaging around the network's estimate); ``"auto"``
does that for multi-coil data and nothing for single-coil data; ``"replace"`` applies the
operator's consistency map (``dc_mode`` / ``dc_weight``).
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.models.boundary import channels_to_complex, complex_to_channels
from mrirecon.models.unet import prepare_input
from mrirecon.recon.common import bshape
from mrirecon.recon.options import Options, opt
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result


FALLBACK_DC_MU = 0.02  # the constant used before the weights followed the data (networks without eps0)


@dataclasses.dataclass
class UNetOptions(Options):
    final_dc: str = opt("auto", "data consistency after the network: cg (argmin |Ax-y|^2 + mu|x-U|^2), replace "
                        "(the operator's map), none, or auto (cg for multi-coil data, none for single-coil)",
                        choices=("auto", "cg", "replace", "none"))
    dc_mode: str = opt("replace", "consistency map for final_dc=replace", choices=("replace", "soft", "prox"))
    dc_weight: float = opt(1.0, "soft: step in (0, 1]; prox: mu > 0", min=0.0, min_open=True)
    dc_mu: float | str = opt("auto", "final_dc=cg: weight mu of the network's estimate, or auto: sigma_n^2 / eps0 "
                             "(noise level over the network's validation error, recon.weights)", choices=("auto",),
                             min=0.0, min_open=True)
    dc_iters: int = opt(20, "final_dc=cg: conjugate-gradient iterations", min=1)


@torch.no_grad()
def reconstruct(physics, y: torch.Tensor, model, options: UNetOptions | None = None) -> torch.Tensor:
    """The U-Net's complex estimate ``(batch, H, W)`` at ``y``'s scale."""
    o = options or UNetOptions()
    from mrirecon.models.io import warn_if_far_from_training_size

    xin, scale = prepare_input(physics, y, getattr(model, "meta", {}).get("input"))
    warn_if_far_from_training_size(model, xin.shape)
    dev = next(model.parameters()).device
    x = channels_to_complex(model(complex_to_channels(xin).to(dev))).to(y.device)
    x = x * bshape(scale, x)
    final_dc = o.final_dc
    if final_dc == "auto":
        final_dc = "cg" if physics.num_coils > 1 else "none"
    if final_dc == "cg":
        mu = o.dc_mu
        if mu == "auto":
            from mrirecon.recon.ccdf import initializer_error
            from mrirecon.recon.weights import normalised_sigma, unet_dc_mu

            eps0 = initializer_error(getattr(model, "meta", {}) or {}, physics)
            sig = normalised_sigma(physics, y, scale)
            if sig is None or eps0 is None:
                import warnings

                warnings.warn("dc_mu='auto' needs the noise level and the network's validation error (eps0 in its "
                              f"weights' meta); using mu = {FALLBACK_DC_MU}", stacklevel=2)
                mu = FALLBACK_DC_MU
            else:
                mu = unet_dc_mu(sig, eps0)
        x = physics.cg_solve(y, x, mu, o.dc_iters)
    elif final_dc == "replace":
        x = physics.consistency(x, y, o.dc_mode, o.dc_weight)
    return x


@register("unet", UNetOptions, networks=("unet",), summary="feed-forward U-Net (+ CG data consistency)")
def solve(physics, y: torch.Tensor, prior=None, *, init=None, options: UNetOptions | None = None,
          generator=None, callback=None) -> Result:
    """``prior``: the U-Net network (``mrirecon.models.unet.UNet``); returns a complex ``Result``."""
    if prior is None:
        raise ValueError("the unet method needs its network: solve(A, y, prior=<U-Net>)")
    return Result(image=reconstruct(physics, y, prior, options), nfe=1)


# ------------------------------------------------------------------------------------------ SR
@dataclasses.dataclass
class UNetSROptions(Options):
    final_dc: str = opt("replace", "after the network: replace (the exact projection onto the images consistent "
                        "with the low-resolution input) or none", choices=("replace", "none"))


def is_sr_network(model) -> bool:
    return (getattr(model, "meta", {}) or {}).get("task") == "sr"


@torch.no_grad()
def reconstruct_sr(physics, y: torch.Tensor, model, options: UNetSROptions | None = None) -> torch.Tensor:
    """The SR U-Net's estimate ``(batch, H, W)`` from the low-resolution ``y`` (real; a complex ``y``
    gives the estimate of its real part, as a complex image): the network maps the operator's cubic
    upsampling (its training input) to the high-resolution image, at the input's own scale."""
    o = options or UNetSROptions()
    was_complex = y.is_complex()
    yr = (y.real if was_complex else y).float()
    up = physics.upsample(yr)
    scale = up.abs().flatten(1).amax(1).clamp_min(1e-12)
    dev = next(model.parameters()).device
    x = model((up / bshape(scale, up))[:, None].to(dev))[:, 0].to(yr.device) * bshape(scale, up)
    if o.final_dc == "replace":
        x = physics.consistency(x, yr)
    return x.to(torch.complex64) if was_complex else x


@register("unet", UNetSROptions, task="sr", networks=("srnet",),
          summary="feed-forward SR U-Net (+ exact consistency projection)")
def solve_sr(physics, y: torch.Tensor, prior=None, *, init=None, options: UNetSROptions | None = None,
             generator=None, callback=None) -> Result:
    """``prior``: the SR U-Net (``mrirecon train srnet``); returns a real ``Result``."""
    if prior is None or not is_sr_network(prior):
        raise ValueError("the sr unet method needs the SR U-Net (weights with meta task='sr', from `mrirecon train "
                         "srnet`): solve(op, y, prior=<SR U-Net>)")
    return Result(image=reconstruct_sr(physics, y, prior, options), nfe=1)
