"""Our diffusion prior as a `deepinv <https://deepinv.github.io>`_ denoiser (optional; needs deepinv).

    from mrirecon.diffusion.prior import DiffusionPrior
    from mrirecon.interop.deepinv import as_deepinv_denoiser
    from mrirecon.resources import weights_dir
    den = as_deepinv_denoiser(DiffusionPrior.load(weights_dir("prior")))
    x_hat = den(x, sigma)        # x: (B, 2, H, W) real / imaginary channels

Conventions (the model card says the same):

* **Images** are complex, as two channels (real, imaginary), at the networks' scale: the image's
  peak magnitude about 1. For MRI data that is k-space divided by ``max |Aᴴ y|`` (what every
  mrirecon solver does before calling the prior). ``scale`` lets you hand the adapter images at
  another scale (the adapter divides by it on the way in and multiplies on the way out).
* **σ** is the standard deviation of white Gaussian noise per real channel in those units.
  deepinv's samplers call denoisers on images in the data's own range (DiffPIR maps its internal
  ``2x − 1`` state back to ``x`` and halves σ before the call; the SDE samplers, DPS among them,
  divide out the schedule's scale), so the default ``scale=1`` is right for data scaled to peak 1.
  Note that DiffPIR clamps its x̂₀ to [0, 1] per channel: the negative real / imaginary parts of a
  complex image with phase are cut there.
* The denoiser is Tweedie's estimate at the timestep whose noise level is nearest to σ
  (``DiffusionPrior.denoise``, ``VPSchedule.t_for_sigma``).
"""

from __future__ import annotations

import torch

try:
    import deepinv
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("mrirecon.interop.deepinv needs deepinv (pip install deepinv); it is not a dependency of "
                      "mrirecon because it pulls torchvision — see benchmarks/setup_deepinv.sh for a separate "
                      f"environment ({exc})") from exc

from mrirecon.diffusion.prior import DiffusionPrior


class PriorDenoiser(deepinv.models.Denoiser):
    """deepinv ``Denoiser``: ``forward(x (B, 2, H, W), sigma)`` → Tweedie estimate, same shape."""

    def __init__(self, prior: DiffusionPrior, scale: float = 1.0):
        super().__init__()
        self.prior, self.scale = prior, float(scale)
        self.net = prior.net  # registered so .to(device) / .eval() reach it

    def forward(self, x: torch.Tensor, sigma, *args, **kwargs) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 2:
            raise ValueError(f"expected (batch, 2, H, W) real/imaginary channels, got {tuple(x.shape)}")
        sig = torch.as_tensor(sigma, dtype=torch.float32).flatten()
        if sig.numel() not in (1, x.shape[0]):
            raise ValueError(f"sigma must be a number or one per batch item, got {sig.numel()} for batch {x.shape[0]}")
        z = torch.complex(x[:, 0].float(), x[:, 1].float()) / self.scale
        if sig.numel() == 1 or bool((sig == sig[0]).all()):
            out = self.prior.denoise(z, float(sig[0]) / self.scale)
        else:
            out = torch.cat([self.prior.denoise(z[i:i + 1], float(sig[i]) / self.scale) for i in range(len(z))])
        return torch.stack([out.real, out.imag], 1).to(x.dtype) * self.scale


def as_deepinv_denoiser(prior: DiffusionPrior, scale: float = 1.0) -> PriorDenoiser:
    return PriorDenoiser(prior, scale)
