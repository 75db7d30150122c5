"""fastMRI-style U-Net (Ronneberger et al. as in fastMRI's baseline) on complex images as 2 channels.

Conv blocks: two 3×3 convolutions, instance norm, LeakyReLU(0.2), dropout; 2×2 average-pool down,
transpose-conv up. Input is normalised by its per-image mean / std and the network predicts a
residual, so the output is a complex image estimate (phase kept). Any image size works: inputs are
reflect-padded to a multiple of ``2**num_pool_layers`` (at least twice it; replicate-padded when the
image is smaller than the pad) and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrirecon.models.io import register


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, drop: float):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2, True),
            nn.Dropout2d(drop),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2, True),
            nn.Dropout2d(drop),
        )

    def forward(self, x):
        return self.layers(x)


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.layers = nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False), nn.InstanceNorm2d(cout),
                                    nn.LeakyReLU(0.2, True))

    def forward(self, x):
        return self.layers(x)


@register("unet")
class UNet(nn.Module):
    def __init__(self, in_chans: int = 2, out_chans: int = 2, chans: int = 32, num_pool_layers: int = 4,
                 drop_prob: float = 0.0, residual: bool = True):
        super().__init__()
        self._config = dict(in_chans=in_chans, out_chans=out_chans, chans=chans, num_pool_layers=num_pool_layers,
                            drop_prob=drop_prob, residual=residual)
        self.residual = residual and in_chans == out_chans
        self.down = nn.ModuleList([ConvBlock(in_chans, chans, drop_prob)])
        ch = chans
        for _ in range(num_pool_layers - 1):
            self.down.append(ConvBlock(ch, ch * 2, drop_prob))
            ch *= 2
        self.bottom = ConvBlock(ch, ch * 2, drop_prob)
        self.up_t, self.up_conv = nn.ModuleList(), nn.ModuleList()
        for i in range(num_pool_layers):
            self.up_t.append(UpBlock(ch * 2, ch))
            last = i == num_pool_layers - 1
            self.up_conv.append(ConvBlock(ch * 2, ch, drop_prob) if not last else
                                nn.Sequential(ConvBlock(ch * 2, ch, drop_prob), nn.Conv2d(ch, out_chans, 1)))
            ch //= 2
        self.multiple = 2 ** num_pool_layers

    def config_dict(self) -> dict:
        return dict(self._config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 2, H, W) real (real, imag of the zero-filled image) → (batch, 2, H, W)."""
        b, c, h, w = x.shape
        mean = x.reshape(b, c, -1).mean(-1)[..., None, None]
        std = x.reshape(b, -1).std(-1).clamp_min(1e-8)[:, None, None, None]
        z = (x - mean) / std
        m = self.multiple
        # padded to a multiple of 2**levels, and to at least 2 of them so the bottleneck keeps more than one
        # pixel per axis (instance norm needs it): tiny images work too
        ph, pw = max(-h % m, 2 * m - h), max(-w % m, 2 * m - w)
        if ph or pw:
            small = max(ph - ph // 2, pw - pw // 2) >= min(h, w)  # reflect needs the pad below the size
            z = F.pad(z, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate" if small else "reflect")
        skips = []
        out = z
        for layer in self.down:
            out = layer(out)
            skips.append(out)
            out = F.avg_pool2d(out, 2)
        out = self.bottom(out)
        for t, conv in zip(self.up_t, self.up_conv):
            out = t(out)
            out = conv(torch.cat([out, skips.pop()], 1))
        out = out[..., ph // 2:ph // 2 + h, pw // 2:pw // 2 + w]
        if self.residual:
            out = out + z[..., ph // 2:ph // 2 + h, pw // 2:pw // 2 + w]
        return out * std + mean


def prepare_input(physics, y: torch.Tensor, spec: dict | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The U-Net's input for measurement ``y`` — the ONE function training and inference share.

    ``spec`` is the network's ``meta["input"]``: ``{"mode": "sense", "mu": μ, "iters": n}`` makes
    the input of multi-coil data the CG-SENSE image argmin ‖Ax − y‖² + μ‖x‖² (parallel imaging
    unfolds the aliasing first); otherwise (and for single-coil data) it is ``physics.init(y)``.
    Returns ``(x_in / scale, scale)`` with ``scale`` ``(batch,)`` the peak magnitude of ``x_in``.
    """
    if spec and spec.get("mode") == "sense" and physics.num_coils > 1:
        x0 = torch.zeros_like(physics.adjoint(y))
        xin = physics.cg_solve(y, x0, float(spec.get("mu", 0.01)), int(spec.get("iters", 10)))
    else:
        xin = physics.init(y)
    scale = xin.abs().flatten(1).amax(1).clamp_min(1e-12)
    return xin / scale.reshape(-1, *([1] * (xin.dim() - 1))), scale
