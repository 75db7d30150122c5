"""SR3 conditional denoiser (Saharia et al., "Image Super-Resolution via Iterative Refinement").

ε_θ(concat(x_noisy, upsampled LR), √γ): a ``diffusers.UNet2DModel`` with 2 input channels (noisy
HR magnitude, bicubic-upsampled LR magnitude) and 1 output channel, conditioned on the continuous
noise level √γ through the sinusoidal time embedding of ``1000·(1 − √γ)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrirecon.models.io import register


def noise_level_embedding_input(sqrt_gamma: torch.Tensor) -> torch.Tensor:
    return 1000.0 * (1.0 - sqrt_gamma)


@register("sr3")
class SR3Net(nn.Module):
    conditional = True  # DiffusionPrior binds it to its condition (prior.conditioned(cond))

    def __init__(self, channels=(32, 64, 64), layers_per_block: int = 1, norm_groups: int = 8):
        super().__init__()
        from diffusers import UNet2DModel

        self._config = dict(channels=list(channels), layers_per_block=layers_per_block, norm_groups=norm_groups)
        n = len(channels)
        self.net = UNet2DModel(sample_size=64, in_channels=2, out_channels=1, block_out_channels=tuple(channels),
                               layers_per_block=layers_per_block, down_block_types=("DownBlock2D",) * n,
                               up_block_types=("UpBlock2D",) * n, norm_num_groups=norm_groups)
        self.multiple = 2 ** (n - 1)

    def config_dict(self) -> dict:
        return dict(self._config)

    def forward(self, x_noisy: torch.Tensor, cond: torch.Tensor, sqrt_gamma: torch.Tensor) -> torch.Tensor:
        """x_noisy, cond: (batch, 1, H, W); sqrt_gamma: (batch,) in (0, 1] → ε̂ (batch, 1, H, W)."""
        h, w = x_noisy.shape[-2:]
        x = torch.cat([x_noisy, cond], 1)
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        sg = torch.as_tensor(sqrt_gamma, device=x.device, dtype=torch.float32)
        if sg.dim() == 0:
            sg = sg.expand(x.shape[0])
        return self.net(x, noise_level_embedding_input(sg)).sample[..., :h, :w]
