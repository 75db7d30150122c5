"""Image-domain degradation operators for super-resolution: ``A x = M_y x M_xᵀ``, separable, one
factor per axis (1 leaves an axis alone: through-plane SR degrades one axis only).

Per axis ``M`` (``n/f × n``) is one of three models, for integer factors:

* ``box``: the mean over blocks of ``f`` samples — a thick slice's profile (and our in-plane
  default: the block average of k-space-free images);
* ``kspace``: k-space truncation — the centred ``n/f`` frequencies of the orthonormal DFT, scaled by
  ``1/√f`` so a constant image keeps its value; the two ±Nyquist bins of the low-resolution grid
  carry half weight each, which makes ``M`` real (MRI-native low resolution);
* ``gaussian``: a Gaussian point-spread function of full width at half maximum ``f`` samples,
  sampled at the block centres, rows normalised to sum 1 at the borders.

``A Aᴴ = (M_y M_yᴴ) ⊗ (M_x M_xᴴ)`` is inverted per axis (small dense matrices), so the consistency map
``x ← x − w Aᴴ(A Aᴴ)⁻¹(A x − y)`` is the orthogonal projection onto ``{A x = y}`` for w = 1 with every
model (for box and k-space ``Aᴴ(A Aᴴ)⁻¹ = f Aᴴ``). Works on real or complex ``(batch, H, W)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mrirecon.physics.linop import LinearOp

DEGRADATIONS = ("box", "kspace", "gaussian")


def degradation_matrix(n: int, f: int, kind: str) -> torch.Tensor:
    """``(n // f, n)`` float64 matrix of one axis (identity for f = 1)."""
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")
    if f == 1:
        return torch.eye(n, dtype=torch.float64)
    if n % f:
        raise ValueError(f"size {n} is not divisible by the factor {f}")
    m = n // f
    if kind == "box":
        return torch.kron(torch.eye(m, dtype=torch.float64), torch.full((1, f), 1.0 / f, dtype=torch.float64))
    if kind == "kspace":
        eye = torch.eye(n, dtype=torch.complex128)
        k = torch.fft.fftshift(torch.fft.fft(torch.fft.ifftshift(eye, dim=0), dim=0, norm="ortho"), dim=0)
        lo = n // 2 - m // 2
        kk = k[lo:lo + m + 1].clone()  # m + 1 bins: the low grid's -Nyquist and +Nyquist
        if m % 2 == 0:
            kk[0] *= 0.5
            kk[-1] *= 0.5
            # fold +Nyquist onto -Nyquist (the same bin of the m-point grid), which makes the map real
            kk[0] = kk[0] + kk[-1]
        kk = kk[:m]
        mat = torch.fft.fftshift(torch.fft.ifft(torch.fft.ifftshift(kk, dim=0), dim=0, norm="ortho"), dim=0)
        return (mat.real / math.sqrt(f)).contiguous()
    sigma = f / (2 * math.sqrt(2 * math.log(2)))
    centres = torch.arange(m, dtype=torch.float64) * f + (f - 1) / 2
    j = torch.arange(n, dtype=torch.float64)
    mat = torch.exp(-((j[None] - centres[:, None]) ** 2) / (2 * sigma ** 2))
    mat[mat < 1e-8] = 0
    return mat / mat.sum(1, keepdim=True)


def sample_offset(n: int, f: int, kind: str) -> float:
    """High-resolution coordinate of low-resolution sample 0 (sample i sits at ``offset + f·i``):
    the block centre for box and Gaussian; for k-space truncation the centred DFT keeps pixel
    ``n//2`` on pixel ``m//2`` of the low grid."""
    if kind == "kspace":
        m = n // f
        return float(n // 2 - f * (m // 2))
    return (f - 1) / 2


def cubic_matrix(n: int, f: int, offset: float, a: float = -0.75) -> torch.Tensor:
    """``(n, n // f)`` cubic-convolution interpolation (Keys, a = −0.75 as PyTorch's bicubic) from
    low-resolution samples at ``offset + f·i`` to every high-resolution pixel, borders replicated."""
    m = n // f
    u = (torch.arange(n, dtype=torch.float64) - offset) / f
    i0 = torch.floor(u)
    mat = torch.zeros((n, m), dtype=torch.float64)
    for k in range(-1, 3):
        d = (u - (i0 + k)).abs()
        w = torch.where(d <= 1, (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1,
                        torch.where(d < 2, a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a, torch.zeros_like(d)))
        idx = (i0 + k).clamp(0, m - 1).long()
        mat.index_put_((torch.arange(n), idx), w, accumulate=True)
    return mat


def bicubic_upsample(y: torch.Tensor, f: int) -> torch.Tensor:
    """Bicubic upsampling ``(batch, h, w)`` → ``(batch, f·h, f·w)`` (real or complex); per-axis factors
    and other sample positions: ``Degrade.upsample``."""
    if y.is_complex():
        return torch.complex(bicubic_upsample(y.real, f), bicubic_upsample(y.imag, f))
    return F.interpolate(y[:, None].float(), scale_factor=f, mode="bicubic", align_corners=False)[:, 0]


class Degrade(LinearOp):
    """The separable degradation ``A x = M_y x M_xᵀ`` (see the module docstring)."""

    def __init__(self, factors, kind: str = "box"):
        fs = tuple(factors) if hasattr(factors, "__len__") else (factors, factors)
        if len(fs) != 2 or any(int(f) != f or f < 1 for f in fs):
            raise ValueError(f"factors must be positive integers (one or one per axis), got {factors}")
        if kind not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")
        self.factors = tuple(int(f) for f in fs)
        self.kind = kind
        self._mats: dict = {}
        self.gram_norm = 1.0 / (self.factors[0] * self.factors[1])  # exact for box and k-space

    @property
    def factor(self) -> int:
        if self.factors[0] != self.factors[1]:
            raise AttributeError(f"anisotropic factors {self.factors}: use .factors")
        return self.factors[0]

    def _axis(self, n: int, f: int, device):
        key = (n, f, str(device))
        if key not in self._mats:
            m = degradation_matrix(n, f, self.kind)
            # M and M^H (M M^H)^-1 of this axis
            self._mats[key] = (m.float().to(device), (m.T @ torch.linalg.inv(m @ m.T)).float().to(device))
        return self._mats[key]

    def _check(self, x):
        h, w = x.shape[-2:]
        fy, fx = self.factors
        if h % fy or w % fx:
            raise ValueError(f"image size {h}x{w} is not divisible by the factors {fy}x{fx}")

    @staticmethod
    def _apply(x, my, mx):
        if x.is_complex():
            return torch.complex(Degrade._apply(x.real, my, mx), Degrade._apply(x.imag, my, mx))
        return my @ x.float() @ mx.T

    def forward(self, x):
        self._check(x)
        my = self._axis(x.shape[-2], self.factors[0], x.device)[0]
        mx = self._axis(x.shape[-1], self.factors[1], x.device)[0]
        return self._apply(x, my, mx)

    def _hr_shape(self, y):
        return y.shape[-2] * self.factors[0], y.shape[-1] * self.factors[1]

    def adjoint(self, y):
        h, w = self._hr_shape(y)
        my = self._axis(h, self.factors[0], y.device)[0]
        mx = self._axis(w, self.factors[1], y.device)[0]
        return self._apply(y, my.T, mx.T)

    def pinv(self, y):
        """``Aᴴ (A Aᴴ)⁻¹ y``: the minimum-norm image consistent with ``y``."""
        h, w = self._hr_shape(y)
        py = self._axis(h, self.factors[0], y.device)[1]
        px = self._axis(w, self.factors[1], y.device)[1]
        return self._apply(y, py, px)

    def upsample(self, y):
        """Cubic interpolation to the high-resolution grid (the SR baseline; SR3's condition), with
        the low-resolution samples where this degradation puts them (``sample_offset``); along an
        axis of factor 1 the image is left as it is."""
        h, w = self._hr_shape(y)
        key = ("cubic", h, w, str(y.device))
        if key not in self._mats:
            self._mats[key] = tuple(cubic_matrix(n, f, sample_offset(n, f, self.kind)).float().to(y.device)
                                    for n, f in ((h, self.factors[0]), (w, self.factors[1])))
        uy, ux = self._mats[key]
        return self._apply(y, uy, ux)

    def init(self, y):
        """Cubic interpolation, corrected to be exactly consistent with ``y``."""
        return self.consistency(self.upsample(y), y)

    def _replace(self, x, y, w):
        return x - w * self.pinv(self.forward(x) - y)

    def select(self, idx):
        return self._carry_noise(Degrade(self.factors, self.kind), idx)

    def to(self, device):
        return self


class Downsample(Degrade):
    """Block-mean downsampling by the same integer factor along both axes (``Degrade(f, "box")``)."""

    def __init__(self, factor: int):
        if int(factor) != factor or factor < 1:
            raise ValueError(f"downsampling factor must be a positive integer, got {factor}")
        super().__init__((int(factor), int(factor)), "box")

    def select(self, idx):
        return self._carry_noise(Downsample(self.factors[0]), idx)


def training_pair(hr: torch.Tensor, factors, kind: str = "box", noise=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cubic-upsampled LR, HR)``, each ``(n, 1, H, W)``, of high-resolution images ``hr`` ``(n, H, W)``
    normalised by each image's peak, through ``Degrade(factors, kind)`` and its own ``upsample`` — the
    pairs the SR U-Net learns from (in training and in test-time adaptation); ``noise(lr, hr)`` may
    return a noisy LR."""
    op = Degrade(factors, kind)
    hr = hr / hr.flatten(1).amax(1).clamp_min(1e-6)[:, None, None]
    lr = op.forward(hr)
    if noise is not None:
        lr = noise(lr, hr)
    return op.upsample(lr)[:, None], hr[:, None]
