"""Time-conditioned denoiser ε_θ(x_t, t) on complex images as two channels (real, imag).

Wraps ``diffusers.UNet2DModel``: convolutional down/up blocks; self-attention only in the middle
block at the lowest resolution (diffusers' default, ``mid_attention=True``; it costs ~10% of a
forward at 128² and grows with the square of the pixel count there — set ``mid_attention=False``
for a fully convolutional prior for 320² images). ``attention=True`` adds attention blocks at the
lowest level too. Inputs of any size are reflect-padded to a multiple of the down-sampling
factor and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrirecon.models.io import register


@register("prior-unet")
class PriorUNet(nn.Module):
    def __init__(self, channels=(32, 64, 128), layers_per_block: int = 1, attention: bool = False,
                 in_channels: int = 2, out_channels: int = 2, norm_groups: int = 8, mid_attention: bool = True):
        super().__init__()
        from diffusers import UNet2DModel

        self._config = dict(channels=list(channels), layers_per_block=layers_per_block,
                            attention=attention, in_channels=in_channels, out_channels=out_channels,
                            norm_groups=norm_groups, mid_attention=mid_attention)
        n = len(channels)
        down = ["DownBlock2D"] * n
        up = ["UpBlock2D"] * n
        if attention:
            down[-1] = "AttnDownBlock2D"
            up[0] = "AttnUpBlock2D"
        self.net = UNet2DModel(
            sample_size=64, in_channels=in_channels, out_channels=out_channels,
            block_out_channels=tuple(channels), layers_per_block=layers_per_block,
            down_block_types=tuple(down), up_block_types=tuple(up), norm_num_groups=norm_groups,
            add_attention=mid_attention,
        )
        self.multiple = 2 ** (n - 1)

    def config_dict(self) -> dict:
        return dict(self._config)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x: (batch, 2, H, W) real; t: (batch,) or scalar integer timesteps → ε̂ (batch, 2, H, W)."""
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        t = torch.as_tensor(t, device=x.device)
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        out = self.net(x, t).sample
        return out[..., :h, :w]
