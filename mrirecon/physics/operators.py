"""Measurement operators A with ``forward``, ``adjoint`` and a non-expansive ``consistency`` map.

Every operator is batched over its first axis and works on ``torch.complex64`` images
``(batch, H, W)``. ``consistency(x, y)`` is the data-consistency map applied between diffusion
steps; each is an affine map ``x ↦ L x + b`` whose linear part ``L`` has norm ≤ 1:

* ``mode="replace"`` (default, noiseless): measured samples are replaced by the measurement —
  a projection for single-coil MRI and super-resolution, ``S^H F^H (I-M) F S`` for SENSE (a
  product of contractions when ``Σ_c |S_c|² ≤ 1``);
* ``mode="soft"`` with ``weight`` w ∈ (0, 1]: a step ``x ← x − w A⁺(A x − y)`` that only pulls
  towards the data (noise-aware; w = 1 is ``replace``);
* ``mode="prox"`` with ``weight`` μ > 0: ``x ← argmin_z ‖A z − y‖² + μ ‖z − x‖²`` by conjugate
  gradients. Its linear part μ (A^H A + μ I)⁻¹ has norm ≤ 1, so it is non-expansive for every
  operator, and for SENSE it uses the coil redundancy (parallel imaging) that ``replace`` cannot.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mrirecon.physics.fft import fft2c, ifft2c, rss


class Operator:
    """Common interface: ``A(x)``, ``A.H(y)``, ``consistency(x, y)``, ``init(y)`` (a first estimate)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    #: ``‖A^H A‖`` (largest eigenvalue of the normal operator), or a tight upper bound. 1 for the MRI
    #: operators (orthonormal FFT, a sampling mask, coil maps normalised to unit root-sum-of-squares:
    #: exact single-coil, a bound for SENSE), 1/factor² for ``Downsample``; solvers that weigh a
    #: data term against a prior divide by it so the balance does not depend on the operator's scale.
    gram_norm: float = 1.0

    @property
    def H(self):
        return _Adjoint(self)

    def init(self, y: torch.Tensor) -> torch.Tensor:
        """Zero-filled / pseudo-inverse estimate ``A⁺ y`` (here ``A^H y``)."""
        return self.adjoint(y)

    def consistency(self, x: torch.Tensor, y: torch.Tensor, mode: str = "replace", weight: float = 1.0) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover

    def image_shape(self, y: torch.Tensor) -> tuple[int, ...]:
        return tuple(self.adjoint(y).shape)

    def select(self, idx) -> "Operator":
        """The operator restricted to the batch items ``idx`` (for chunked solving)."""
        raise NotImplementedError  # pragma: no cover

    def to(self, device) -> "Operator":
        raise NotImplementedError  # pragma: no cover


class _Adjoint:
    def __init__(self, op):
        self.op = op

    def __call__(self, y):
        return self.op.adjoint(y)


def _check_weight(mode, weight):
    if mode not in ("replace", "soft", "prox"):
        raise ValueError(f"unknown consistency mode {mode!r}: replace, soft or prox")
    if mode == "prox":
        if weight <= 0:
            raise ValueError(f"prox consistency needs mu > 0, got {weight}")
    elif not 0.0 < weight <= 1.0:
        raise ValueError(f"consistency weight must be in (0, 1], got {weight}")


def _batched(t: torch.Tensor, ndim: int) -> torch.Tensor:
    while t.dim() < ndim:
        t = t.unsqueeze(0)
    return t


class SingleCoilMRI(Operator):
    """``A = M F``: centred orthonormal FFT then a sampling mask.

    mask: ``(H, W)``, ``(W,)`` or ``(batch, H, W)`` with values in {0, 1} (or a 1-D column mask).
    x: ``(batch, H, W)`` complex; y: ``(batch, H, W)`` complex k-space (zeros where not sampled).
    """

    def __init__(self, mask: torch.Tensor):
        mask = torch.as_tensor(mask, dtype=torch.float32)
        if mask.dim() == 1:
            mask = mask[None, :]
        self.mask = _batched(mask, 3)

    def forward(self, x):
        return fft2c(x) * self.mask

    def adjoint(self, y):
        return ifft2c(y * self.mask)

    def consistency(self, x, y, mode="replace", weight=1.0):
        _check_weight(mode, weight)
        if mode == "prox":
            return prox_consistency(self, x, y, weight)
        k = fft2c(x)
        w = self.mask * (1.0 if mode == "replace" else weight)
        return ifft2c(k - w * (k - y))

    def select(self, idx):
        return SingleCoilMRI(self.mask[idx] if self.mask.shape[0] > 1 else self.mask)

    def to(self, device):
        return SingleCoilMRI(self.mask.to(device))


class MultiCoilMRI(Operator):
    """SENSE: ``A = M F S``. maps ``(batch, coils, H, W)`` complex with ``Σ_c |S_c|² ≤ 1``.

    x: ``(batch, H, W)`` complex; y: ``(batch, coils, H, W)`` complex k-space.
    """

    def __init__(self, mask: torch.Tensor, maps: torch.Tensor):
        mask = torch.as_tensor(mask, dtype=torch.float32)
        if mask.dim() == 1:
            mask = mask[None, :]
        self.mask = _batched(mask, 3)[:, None]  # (batch|1, 1, H, W)
        self.maps = _batched(torch.as_tensor(maps).to(torch.complex64), 4)
        norm = (self.maps.abs() ** 2).sum(1).max().item()
        if norm > 1 + 1e-3:
            raise ValueError(f"sensitivity maps must satisfy sum_c |S_c|^2 <= 1 (max is {norm:.4f}); "
                             "use normalise_maps()")

    def forward(self, x):
        return fft2c(self.maps * x[:, None]) * self.mask

    def adjoint(self, y):
        return (self.maps.conj() * ifft2c(y * self.mask)).sum(1)

    def consistency(self, x, y, mode="replace", weight=1.0):
        _check_weight(mode, weight)
        if mode == "prox":
            return prox_consistency(self, x, y, weight)
        k = fft2c(self.maps * x[:, None])
        w = self.mask * (1.0 if mode == "replace" else weight)
        coil = ifft2c(k - w * (k - y))
        out = (self.maps.conj() * coil).sum(1)
        # keep the part of x outside the maps' support (where S^H S = 0) unchanged
        support = (self.maps.abs() ** 2).sum(1)
        return out + (1 - support) * x

    def select(self, idx):
        m = self.mask[idx] if self.mask.shape[0] > 1 else self.mask
        return MultiCoilMRI(m[:, 0], self.maps[idx])

    def to(self, device):
        return MultiCoilMRI(self.mask[:, 0].to(device), self.maps.to(device))


def prox_consistency(op, x, y, mu: float, iters: int = 15):
    from mrirecon.physics.cg import cg_dc

    return cg_dc(op, y, x, mu, iters)


def normalise_maps(maps: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Scale maps so that ``Σ_c |S_c|² = 1`` wherever they are non-zero (0 elsewhere)."""
    r = rss(maps, dim=-3)
    return torch.where(r[..., None, :, :] > eps, maps / r.clamp_min(eps)[..., None, :, :], torch.zeros_like(maps))
