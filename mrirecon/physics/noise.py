"""Noise level of k-space data, from the data itself.

The complex noise σ (``E|n|² = σ²`` per k-space sample, per coil) is estimated robustly, by the
median absolute deviation of real and imaginary parts (σ_re = 1.4826·MAD, σ = √2·σ_re), in two
places where an MR acquisition has (almost) no signal, and the smaller estimate is kept:

* **background rows of the coil images.** Undersampling is along the phase-encoding axis (W), so
  aliasing stays within a readout row; rows outside the object (air around the head, the readout
  oversampling margin of fastMRI brain data) hold noise only, of variance σ²·f for a sampled
  fraction f. The ``rows`` fraction of rows with the least energy is used.
* **the corners of k-space** (the outer ``edge`` fraction of both axes, sampled samples only).

Both overestimate when the object fills every row and the image has strong edges at high SNR
(measured in docs/benchmarks.md). A noise scan (``noise``, ``(coils, samples)``) gives σ directly
(its standard deviation) and is preferred when the file has one.
"""

from __future__ import annotations

import torch

MAD_TO_STD = 1.4826


def _mad_sigma(v: torch.Tensor) -> torch.Tensor:
    """Complex σ from samples ``(..., n)`` by the MAD of their real and imaginary parts (robust to a
    few signal outliers)."""
    parts = torch.cat([v.real, v.imag], -1)
    med = parts.median(-1, keepdim=True).values
    return MAD_TO_STD * (parts - med).abs().median(-1).values * 2 ** 0.5


def estimate_sigma(kspace: torch.Tensor, mask: torch.Tensor | None = None, edge: float = 0.15,
                   rows: float = 0.04) -> torch.Tensor:
    """Per-coil complex noise σ of k-space ``(coils, H, W)`` (or ``(H, W)``: one coil) → ``(coils,)``.

    ``mask`` ``(W,)`` or ``(H, W)``: the sampled locations (default: the non-zero samples)."""
    return torch.minimum(_sigma_background_rows(kspace, mask, rows), _sigma_kspace_corners(kspace, mask, edge))


def _mask2d(k: torch.Tensor, mask) -> torch.Tensor:
    c, h, w = k.shape
    if mask is None:
        return (k != 0).any(0)
    m = torch.as_tensor(mask).bool()
    return m.expand(h, w) if m.dim() == 1 else m


def _sigma_background_rows(kspace, mask, rows: float) -> torch.Tensor:
    from mrirecon.physics.fft import ifft2c

    k = kspace if kspace.dim() == 3 else kspace[None]
    m = _mask2d(k, mask)
    img = ifft2c(k * m)
    f = float(m.float().mean())
    energy = img.abs().permute(1, 0, 2).reshape(img.shape[1], -1).median(1).values
    # the quietest rows, widened to every row as quiet as them within their own noise fluctuation (picking
    # only the lowest few noise-only rows would bias σ low)
    floor = torch.quantile(energy, rows)
    quiet = (energy <= 1.5 * floor).nonzero()[:, 0]
    if len(quiet) < 2:
        quiet = energy.argsort()[:2]
    return _mad_sigma(img[:, quiet, :].reshape(img.shape[0], -1)) / max(f, 1e-6) ** 0.5


def _sigma_kspace_corners(kspace, mask, edge: float) -> torch.Tensor:
    k = kspace if kspace.dim() == 3 else kspace[None]
    c, h, w = k.shape
    m = _mask2d(k, mask)
    eh, ew = max(int(h * edge), 1), max(int(w * edge), 1)
    rows = torch.zeros(h, dtype=torch.bool)
    rows[:eh] = rows[-eh:] = True
    cols = torch.zeros(w, dtype=torch.bool)
    cols[:ew] = cols[-ew:] = True
    region = rows[:, None] & cols[None, :] & m
    if int(region.sum()) < 32:  # too few sampled corner samples: use every outer row of sampled columns
        region = rows[:, None] & m
    if int(region.sum()) < 8:
        raise ValueError("too few sampled outer k-space samples to estimate the noise level")
    return _mad_sigma(k[:, region])


def sigma_from_noise_scan(noise: torch.Tensor) -> torch.Tensor:
    """Per-coil complex σ from noise-scan samples ``(coils, n)``: their standard deviation."""
    n = torch.as_tensor(noise)
    n = n - n.mean(-1, keepdim=True)
    return (n.abs() ** 2).mean(-1).sqrt()
