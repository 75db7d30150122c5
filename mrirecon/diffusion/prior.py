"""One prior container for unconditional and conditional diffusion networks: network + schedule.

``prior.eps(x, t)`` maps a complex image ``(batch, H, W)`` at integer timestep t to the predicted
noise ε̂ (complex, the same shape) — the only place the samplers meet a network. An unconditional
prior (``PriorUNet``) sees the complex image as 2 channels (real, imag). A conditional SR3 network
(``net.conditional``) must be bound to its condition first (``prior.conditioned(cond)``): it sees the
real channel as SR3's x_t with the bicubic-upsampled condition and the continuous noise level √ᾱ_t;
the image is known to be real, so the imaginary channel gets the ε that predicts x̂₀ = 0 there.

Data scaling: the networks were trained on images whose magnitude peak is ~1; the solvers divide
the measurement by the peak of ``A^H y`` (``measurement_scale``) and multiply the result back.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
from mrirecon.models.boundary import channels_to_complex, complex_to_channels


@dataclasses.dataclass
class DiffusionPrior:
    net: torch.nn.Module
    schedule: VPSchedule
    cond: torch.Tensor | None = None  # conditional networks: (batch, H, W) real condition images

    @property
    def conditional(self) -> bool:
        return bool(getattr(self.net, "conditional", False))

    @property
    def meta(self) -> dict:
        return getattr(self.net, "meta", {})

    def parameters(self):
        return self.net.parameters()

    def conditioned(self, cond: torch.Tensor) -> "DiffusionPrior":
        """This prior bound to the condition images ``cond`` ``(batch, H, W)`` (conditional nets only);
        a sample-tiled batch (n × batch) reuses it."""
        if not self.conditional:
            raise ValueError("an unconditional prior takes no condition")
        return dataclasses.replace(self, cond=cond)

    #: images larger than this many pixels go through the network one at a time: the mid-block
    #: attention's memory grows with the square of the pixel count (a 640×320 image needs ~0.7 GB)
    max_batched_pixels: int = 256 * 256

    def eps(self, x: torch.Tensor, t) -> torch.Tensor:
        """ε̂ for complex ``x`` ``(batch, H, W)`` at integer timestep ``t`` (scalar or ``(batch,)``)."""
        if x.shape[0] > 1 and x.shape[-2] * x.shape[-1] > self.max_batched_pixels:
            tt = torch.as_tensor(t)
            cond = None if self.cond is None else self.cond.repeat(x.shape[0] // self.cond.shape[0], 1, 1)
            return torch.cat([(self if cond is None else dataclasses.replace(self, cond=cond[i:i + 1]))._eps(
                x[i:i + 1], tt if tt.dim() == 0 else tt[i:i + 1]) for i in range(x.shape[0])])
        return self._eps(x, t)

    def _eps(self, x: torch.Tensor, t) -> torch.Tensor:
        if x.shape[-2:] != getattr(self, "_checked_shape", None):
            from mrirecon.models.io import warn_if_far_from_training_size

            warn_if_far_from_training_size(self.net, x.shape)
            self._checked_shape = x.shape[-2:]
        dev = next(self.net.parameters()).device
        tt = torch.as_tensor(t, device=dev)
        if tt.dim() == 0:
            tt = tt.expand(x.shape[0])
        xin = complex_to_channels(x).to(dev)
        if not self.conditional:
            return channels_to_complex(self.net(xin, tt)).to(x.device)
        if self.cond is None:
            raise ValueError("a conditional prior needs its condition: use prior.conditioned(cond)")
        ab = float(self.schedule.alpha_bar(int(tt.flatten()[0])))
        n = x.shape[0] // self.cond.shape[0]
        cond = self.cond.repeat(n, 1, 1)[:, None].to(dev)
        sg = torch.full((x.shape[0],), ab ** 0.5, device=dev)
        eps_re = self.net(xin[:, :1], cond, sg)
        eps_im = xin[:, 1:] / (1 - ab) ** 0.5
        return channels_to_complex(torch.cat([eps_re, eps_im], 1)).to(x.device)

    def __call__(self, x, t):
        return self.eps(x, t)

    def denoise(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """Tweedie estimate E[x0 | x0 + σ n] for complex ``x`` ``(batch, H, W)`` at the networks' scale
        (peak ~1), from the nearest timestep: x_t = α_t x, then x̂0 = (x_t − σ_t ε̂)/α_t. Differentiable
        (guidance methods such as DPS need ∂x̂0/∂x); wrap calls in ``torch.no_grad()`` otherwise."""
        t = self.schedule.t_for_sigma(sigma)
        ab = float(self.schedule.alpha_bar(t))
        xt = x * ab ** 0.5
        return self.schedule.predict_x0(xt, t, self.eps(xt, t))

    @classmethod
    def load(cls, folder, device="cpu") -> "DiffusionPrior":
        """A prior or SR3 network saved with ``save_model`` (its meta holds the schedule)."""
        from mrirecon.models.io import load_model

        net = load_model(Path(folder), device=device)
        return cls(net.eval(), VPSchedule(ScheduleConfig(**net.meta.get("schedule", {}))))
