"""Coil sensitivity estimation from the auto-calibration (ACS) lines.

``estimate_maps`` runs ESPIRiT (Uecker et al., MRM 2014) on a **rectangular** calibration region:
the ACS columns × ``read_width`` readout rows. The readout axis is fully sampled, so the calibration
need not be square; ``sigpy.mri.app.EspiritCalib`` crops to ``calib_width`` in every axis and, with
the 5–10 ACS lines of a 128-line acquisition at R = 8 / 4, its calibration matrix has fewer rows than
unknowns (kept as ``method="sigpy"`` for comparison). The calibration matrix's singular vectors are
kept above the largest singular value a noise-only matrix of its size would have, σ(√rows + √cols)
with σ the k-space noise estimated from the data (``physics.noise.estimate_sigma``), not a fixed
fraction of the largest; noise-free data fall back to ``1e-3`` of the largest. The kernel's width
across the ACS lines follows their number (2 for ≤ 5 lines, 4 for 10–11, 6 from 15). Measured on the
robustness matrix's 64 multi-coil cells (docs/benchmarks.md, round 14): best-grid CS 21.87 → 26.71 dB,
CCDF 23.33 → 29.97 dB against the previous path (sigpy, then low-resolution maps where those did not
cover the object).

With fewer than 4 ACS lines, or when the maps do not cover the object, it falls back to
low-resolution ACS maps (the centre lines, rectangular window, divided by their root-sum-of-squares;
a Hann window was measured 6 dB worse for CS at R=8 with 5 lines). Maps are normalised so that
``Σ_c |S_c|² = 1`` on their support, so the SENSE operator has norm ≤ 1.
"""

from __future__ import annotations

import numpy as np
import torch

from mrirecon.physics.fft import fft2c, ifft2c, rss
from mrirecon.physics.operators import normalise_maps


def acs_range(mask_cols) -> tuple[int, int] | None:
    """``(first, last)`` column of the contiguous sampled run through the k-space centre of a 1-D
    column mask, or None when the centre is not sampled."""
    m = torch.as_tensor(mask_cols).reshape(-1).bool().tolist()
    c = len(m) // 2
    if not m[c]:
        return None
    lo = hi = c
    while lo - 1 >= 0 and m[lo - 1]:
        lo -= 1
    while hi + 1 < len(m) and m[hi + 1]:
        hi += 1
    return lo, hi


def acs_lines(mask_cols: torch.Tensor) -> int:
    """Number of contiguous sampled columns around the k-space centre of a 1-D column mask."""
    r = acs_range(mask_cols)
    return 0 if r is None else r[1] - r[0] + 1


def lowres_maps(kspace: torch.Tensor, n_acs: int) -> torch.Tensor:
    """Low-resolution maps from the centre ``n_acs`` columns (rectangular window), ``(coils, H, W)``."""
    c, h, w = kspace.shape
    n = max(n_acs, 2)
    start = (w - n + 1) // 2
    win = torch.zeros(w)
    win[start:start + n] = 1.0
    img = ifft2c(kspace * win[None, None, :])
    return normalise_maps(img / rss(img, 0).clamp_min(1e-12)[None])


def object_mask(kspace: torch.Tensor) -> torch.Tensor:
    """The object: where the zero-filled RSS image exceeds 10 % of its maximum, ``(H, W)``."""
    img = rss(ifft2c(kspace), 0)
    return img > 0.1 * img.max()


def coverage(maps: torch.Tensor, kspace: torch.Tensor, obj: torch.Tensor | None = None) -> float:
    """Fraction of the object (``object_mask``; pass it as ``obj`` when known) on which the maps are non-zero."""
    obj = object_mask(kspace) if obj is None else obj
    return float(((rss(maps, 0) > 0.5) & obj).sum() / obj.sum().clamp_min(1))


def span_residual(maps: torch.Tensor, coil_images: torch.Tensor) -> float:
    """Relative part of coil images ``(..., coils, H, W)`` outside the maps' span, ‖c − S Sᴴ c‖ / ‖c‖
    (0: the maps explain the coil images exactly)."""
    proj = maps * (maps.conj() * coil_images).sum(-3, keepdim=True)
    return float((coil_images - proj).norm() / coil_images.norm())


#: readout rows of the calibration region (the full readout when shorter); 32–64 measured alike at 128²
READ_WIDTH = 48
#: eigenvalue crops tried, largest first, until the maps cover the object
CROPS = (0.8, 0.6, 0.4, 0.2, 0.0)
#: singular values kept above NOISE_MARGIN × the largest a noise-only calibration matrix would have
NOISE_MARGIN = 1.0


def espirit_kernel_width(n_acs: int) -> int:
    """Kernel width across the ACS lines: at least as many kernel positions as half the lines
    (2 for 4–5 lines, 4 for 10, 6 from 15 on; measured at 5 and 10 lines in docs/benchmarks.md)."""
    return int(min(6, max(2, n_acs // 3 + 1)))


def espirit(kspace: torch.Tensor, acs: tuple[int, int], *, kernel: tuple[int, int] | None = None,
            read_width: int = READ_WIDTH, sigma: float | None = None, crop: float | tuple = CROPS,
            min_coverage: float = 0.97, chunk: int = 4096) -> tuple[torch.Tensor, dict]:
    """ESPIRiT maps ``(coils, H, W)`` from k-space ``(coils, H, W)`` whose columns ``acs = (first, last)``
    are fully sampled (H: the fully sampled readout axis).

    ``sigma``: the complex k-space noise σ per sample (None: estimated from ``kspace``); it sets the
    subspace threshold. ``crop``: maps are zero where the largest eigenvalue of the image-domain
    operator is below it (outside the object); a tuple of thresholds, largest first: the first whose maps
    cover ``min_coverage`` of the object (``coverage``, reported in the info), else the last. With localised coils at low SNR the
    eigenvalue falls below 0.8 inside the object, where a cropped map would zero the image."""
    k64 = torch.as_tensor(kspace).to(torch.complex64).cpu()
    k = k64.to(torch.complex128)
    c, h, w = k.shape
    lo, hi = acs
    n_acs = hi - lo + 1
    kw = kernel[1] if kernel else espirit_kernel_width(n_acs)
    kh = kernel[0] if kernel else 6
    nh = min(max(read_width, n_acs), h)
    if n_acs < kw or nh < kh:
        raise ValueError(f"ESPIRiT: a {kh}x{kw} kernel does not fit a {nh}x{n_acs} calibration region")
    r0 = (h - nh) // 2
    calib = k[:, r0:r0 + nh, lo:hi + 1]
    mat = calib.unfold(1, kh, 1).unfold(2, kw, 1).permute(1, 2, 0, 3, 4).reshape(-1, c * kh * kw)
    _, s, vh = torch.linalg.svd(mat, full_matrices=False)
    if sigma is None:
        from mrirecon.physics.noise import estimate_sigma

        try:  # the sampled columns: those with any non-zero sample
            sigma = float(estimate_sigma(k64, (k64 != 0).any(0).any(0)).pow(2).mean().sqrt())
        except ValueError:
            sigma = 0.0
    rows, cols = mat.shape
    noise_sv, floor = NOISE_MARGIN * sigma * (rows ** 0.5 + cols ** 0.5), 1e-3 * float(s[0])
    v = vh[s > max(noise_sv, floor)]
    if len(v) == 0:
        raise ValueError("ESPIRiT: no calibration singular value above the noise level")
    # the image-domain operator Σ_k a_k a_kᴴ per pixel, a_k the coil-wise inverse FFT of kernel k, written as
    # the inverse FFT of the kernels' autocorrelation (2kh−1 × 2kw−1 offsets), so its cost does not grow with
    # the number of kernels
    kern = v.reshape(-1, c, kh, kw)
    gram = torch.einsum("kcab,kdef->cdabef", kern, kern.conj())  # Σ_k V_k[c, p] conj(V_k[d, q])
    auto = torch.zeros((c, c, 2 * kh - 1, 2 * kw - 1), dtype=torch.complex128)
    for a in range(kh):
        for b in range(kw):
            for e in range(kh):
                for f in range(kw):
                    auto[:, :, a - e + kh - 1, b - f + kw - 1] += gram[:, :, a, b, e, f]
    grid = torch.zeros((c, c, h, w), dtype=torch.complex64)  # single precision from here: the maps are complex64
    grid[:, :, :2 * kh - 1, :2 * kw - 1] = auto
    grid = torch.roll(grid, (-(kh - 1), -(kw - 1)), dims=(-2, -1))  # offset 0 at index 0
    aha = torch.fft.fftshift(torch.fft.ifft2(grid, norm="forward"), dim=(-2, -1)) / (kh * kw)
    del grid
    maps = torch.empty((h, w, c), dtype=torch.complex64)
    lam = torch.empty((h, w), dtype=torch.float32)
    rows_per = max(1, chunk // w)
    for r in range(0, h, rows_per):  # per block of rows: (rows·W, C, C) Hermitian matrices
        block = aha[:, :, r:r + rows_per].permute(2, 3, 0, 1).reshape(-1, c, c)
        ev, vec = torch.linalg.eigh(block)
        maps[r:r + rows_per] = vec[..., -1].reshape(-1, w, c)
        lam[r:r + rows_per] = ev[..., -1].reshape(-1, w)
    maps = maps * torch.conj(maps[..., :1] / maps[..., :1].abs().clamp_min(1e-12))  # phase relative to coil 0
    maps = maps.permute(2, 0, 1)
    crops = (crop,) if isinstance(crop, (int, float)) else tuple(crop)
    obj = object_mask(k64)
    for cr in crops:
        out = normalise_maps(maps * (lam > cr))
        cov = coverage(out, k64, obj)
        if cov >= min_coverage:
            break
    info = {"kernel": [kh, kw], "calib": [nh, n_acs], "kernels_kept": len(v), "noise_threshold": bool(noise_sv > floor),
            "crop": cr, "coverage": cov}
    return out, info


def estimate_maps(kspace: torch.Tensor, mask_cols: torch.Tensor | None = None, *, method: str = "auto",
                  kernel_width: int | None = None, min_coverage: float = 0.97) -> tuple[torch.Tensor, dict]:
    """Sensitivity maps ``(coils, H, W)`` complex64 from undersampled k-space ``(coils, H, W)``.

    ``method``: auto (ESPIRiT, low-resolution maps when it cannot run or does not cover the object),
    espirit, sigpy (sigpy's ESPIRiT with its square calibration region, for comparison) or lowres.
    Returns ``(maps, info)``; ``info`` names the method used, the ACS width and the coverage.
    """
    if method not in ("auto", "espirit", "sigpy", "lowres"):
        raise ValueError(f"unknown coil-map method {method!r}: auto, espirit, sigpy or lowres")
    kspace = torch.as_tensor(kspace).to(torch.complex64).cpu()
    c, h, w = kspace.shape
    if mask_cols is not None:
        rng = acs_range(mask_cols)
        n_acs = 0 if rng is None else rng[1] - rng[0] + 1
    else:  # fully sampled: the centre columns
        n_acs = min(24, w)
        rng = ((w - n_acs + 1) // 2, (w - n_acs + 1) // 2 + n_acs - 1)
    info = {"acs_lines": n_acs}
    if method == "sigpy":
        return _sigpy_espirit(kspace, n_acs, kernel_width, info)
    if method in ("auto", "espirit") and n_acs >= 4:
        try:
            kernel = (6, kernel_width) if kernel_width else None
            maps, einfo = espirit(kspace, rng, kernel=kernel, min_coverage=min_coverage)
        except (ValueError, torch.linalg.LinAlgError):  # no usable calibration: the low-resolution maps
            if method == "espirit":
                raise
        else:
            cov = einfo.pop("coverage")
            info.update(method="espirit", **einfo, coverage=round(cov, 4))
            if cov >= min_coverage or method == "espirit":
                return maps, info
            info["espirit_coverage"] = info.pop("coverage")
    elif method == "espirit":
        raise ValueError(f"ESPIRiT needs at least 4 ACS lines, the mask has {n_acs}; use method='lowres'")
    maps = lowres_maps(kspace, n_acs)
    info.update(method="lowres", coverage=round(coverage(maps, kspace), 4))
    return maps, info


def _sigpy_espirit(kspace, n_acs, kernel_width, info):
    import sigpy.mri.app as app

    if n_acs < 8:
        raise ValueError(f"sigpy's ESPIRiT needs at least 8 ACS lines, the mask has {n_acs}")
    kw = kernel_width or (6 if n_acs >= 16 else 4)
    maps = app.EspiritCalib(kspace.numpy(), calib_width=n_acs, kernel_width=kw, thresh=0.02, crop=0.8,
                            show_pbar=False).run()
    maps = normalise_maps(torch.from_numpy(np.asarray(maps)).to(torch.complex64))
    info.update(method="sigpy", kernel_width=kw, coverage=round(coverage(maps, kspace), 4))
    return maps, info
