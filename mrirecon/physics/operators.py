"""MRI measurement operators: ``SingleCoilMRI`` (``A = M F``) and ``MultiCoilMRI`` (SENSE, ``A = M F S``).

Both implement ``mrirecon.physics.linop.LinearOp``: forward, adjoint, normal, ``cg_solve`` and the
non-expansive ``consistency`` map (``replace`` / ``soft`` / ``prox``). The replacement map is a
projection for single-coil data and ``S^H F^H [(1−M) F S x + M y]`` for SENSE (a product of
contractions when ``Σ_c |S_c|² ≤ 1``; not an exact projection — ``prox`` is).
"""

from __future__ import annotations

import numpy as np
import torch

from mrirecon.physics.fft import fft2c, ifft2c, rss
from mrirecon.physics.linop import LinearOp, Operator

__all__ = ["SingleCoilMRI", "MultiCoilMRI", "normalise_maps", "Operator", "LinearOp"]


def _batched(t: torch.Tensor, ndim: int) -> torch.Tensor:
    while t.dim() < ndim:
        t = t.unsqueeze(0)
    return t


def _mask_tensor(mask) -> torch.Tensor:
    mask = torch.as_tensor(mask, dtype=torch.float32)
    if mask.dim() == 1:
        mask = mask[None, :]
    return _batched(mask, 3)


class _CartesianMRI(LinearOp):
    """What single-coil and SENSE operators share: the per-item sampling mask and the noise estimate."""

    def item_mask(self, i: int) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def with_mask(self, mask: torch.Tensor) -> "_CartesianMRI":
        """The same operator with another sampling mask ``(batch, H, W)`` (e.g. a subset of this one's
        samples for k-space hold-out validation); the noise level is carried over."""
        raise NotImplementedError

    def estimate_noise(self, y):
        from mrirecon.physics.noise import estimate_sigma

        return torch.stack([estimate_sigma(y[i], self.item_mask(i)).pow(2).mean().sqrt()
                            for i in range(y.shape[0])]).float()


class SingleCoilMRI(_CartesianMRI):
    """``A = M F``: centred orthonormal FFT then a sampling mask.

    mask: ``(H, W)``, ``(W,)`` or ``(batch, H, W)`` with values in {0, 1}.
    x: ``(batch, H, W)`` complex; y: ``(batch, H, W)`` complex k-space (zeros where not sampled).
    """

    num_coils = 1

    def __init__(self, mask: torch.Tensor):
        self.mask = _mask_tensor(mask)

    def forward(self, x):
        return fft2c(x) * self.mask

    def adjoint(self, y):
        return ifft2c(y * self.mask)

    def _replace(self, x, y, w):
        k = fft2c(x)
        return ifft2c(k - (self.mask * w) * (k - y))

    def prox(self, x, y, mu, iters: int = 15):
        """Closed form: on the sampled k-space entries (F z)_k = ((F x)_k + y_k / μ) / (1 + 1/μ), i.e.
        the replacement with weight 1/(1 + μ); exact for any μ ≥ 0, where CG is ill-conditioned."""
        if torch.is_tensor(mu):
            mu = mu.to(device=x.device, dtype=torch.float32).reshape(-1, *([1] * (x.dim() - 1)))
        return self._replace(x, y, 1.0 / (1.0 + mu))

    def item_mask(self, i):
        return self.mask[i if self.mask.shape[0] > 1 else 0]

    def sense_parts(self, i):
        m = self.item_mask(i).cpu().numpy()
        return np.ones((1, *m.shape), np.complex64), m

    def select(self, idx):
        return self._carry_noise(SingleCoilMRI(self.mask[idx] if self.mask.shape[0] > 1 else self.mask), idx)

    def with_mask(self, mask):
        return self._carry_noise(SingleCoilMRI(mask))

    def to(self, device):
        return self._carry_noise(SingleCoilMRI(self.mask.to(device)))


class MultiCoilMRI(_CartesianMRI):
    """SENSE: ``A = M F S``. maps ``(batch, coils, H, W)`` complex with ``Σ_c |S_c|² ≤ 1``.

    x: ``(batch, H, W)`` complex; y: ``(batch, coils, H, W)`` complex k-space.
    """

    def __init__(self, mask: torch.Tensor, maps: torch.Tensor):
        self.mask = _mask_tensor(mask)[:, None]  # (batch|1, 1, H, W)
        self.maps = _batched(torch.as_tensor(maps).to(torch.complex64), 4)
        self.num_coils = int(self.maps.shape[1])
        norm = (self.maps.abs() ** 2).sum(1).max().item()
        if norm > 1 + 1e-3:
            raise ValueError(f"sensitivity maps must satisfy sum_c |S_c|^2 <= 1 (max is {norm:.4f}); "
                             "use normalise_maps()")

    def forward(self, x):
        return fft2c(self.maps * x[:, None]) * self.mask

    def adjoint(self, y):
        return (self.maps.conj() * ifft2c(y * self.mask)).sum(1)

    def _replace(self, x, y, w):
        k = fft2c(self.maps * x[:, None])
        coil = ifft2c(k - (self.mask * w) * (k - y))
        out = (self.maps.conj() * coil).sum(1)
        # keep the part of x outside the maps' support (where S^H S = 0) unchanged
        support = (self.maps.abs() ** 2).sum(1)
        return out + (1 - support) * x

    def item_mask(self, i):
        return self.mask[i if self.mask.shape[0] > 1 else 0, 0]

    def sense_parts(self, i):
        return self.maps[i].cpu().numpy(), self.item_mask(i).cpu().numpy()

    def select(self, idx):
        m = self.mask[idx] if self.mask.shape[0] > 1 else self.mask
        return self._carry_noise(MultiCoilMRI(m[:, 0], self.maps[idx]), idx)

    def with_mask(self, mask):
        return self._carry_noise(MultiCoilMRI(mask, self.maps))

    def to(self, device):
        return self._carry_noise(MultiCoilMRI(self.mask[:, 0].to(device), self.maps.to(device)))


def normalise_maps(maps: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Scale maps so that ``Σ_c |S_c|² = 1`` wherever they are non-zero (0 elsewhere)."""
    r = rss(maps, dim=-3)
    return torch.where(r[..., None, :, :] > eps, maps / r.clamp_min(eps)[..., None, :, :], torch.zeros_like(maps))
