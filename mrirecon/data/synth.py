"""fastMRI-style simulation: magnitude images → complex multi-coil (or single-coil) k-space files.

Each slice gets a smooth random phase; multi-coil data use birdcage sensitivity maps
(``sigpy.mri.birdcage_maps``); complex Gaussian noise is added in k-space at a set SNR (mean object
magnitude over noise standard deviation, in dB; the orthonormal FFT keeps the noise level the
same in image space). Optional readout oversampling (×2 along H, as in fastMRI brain data) with the
recon size in the header. Targets are made as fastMRI makes them from the fully sampled data:
``reconstruction_rss`` (multi-coil) or ``reconstruction_esc`` (single-coil) magnitude, centre-cropped
to the recon size, with attrs ``max`` and ``norm``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from mrirecon.data.augment import smooth_phase
from mrirecon.io.fastmri import make_header, write_fastmri_file
from mrirecon.physics.fft import center_crop, fft2c, ifft2c, rss


@dataclasses.dataclass
class SimConfig:
    coils: int = 8  # 0 or 1 = single-coil
    snr_db: float = 30.0
    readout_oversampling: int = 1  # 2 doubles the encoded H as fastMRI brain/knee data do
    coil_radius: float = 1.2  # birdcage radius relative to the FOV (smaller = more localised coils)
    max_phase: float = float(np.pi)
    fov_mm: float = 220.0
    slice_thickness_mm: float = 5.0
    acquisition: str = "AXT1_SIM"
    seed: int = 0


def birdcage_maps(coils: int, h: int, w: int, radius: float = 1.2) -> torch.Tensor:
    import sigpy.mri

    for r in (radius, radius * 1.013, radius * 0.987):  # a coil exactly on a pixel centre divides by zero
        with np.errstate(divide="ignore", invalid="ignore"):
            maps = np.asarray(sigpy.mri.birdcage_maps((coils, h, w), r=r, nzz=coils, dtype=np.complex64))
        if np.isfinite(maps).all():
            break
    else:
        raise ValueError(f"birdcage maps for {coils} coils, radius {radius} are not finite")
    maps = torch.from_numpy(maps)
    return maps / rss(maps, 0).max()


def surface_coil_maps(coils: int, h: int, w: int, generator: torch.Generator | None = None, *,
                      ring: tuple[float, float] = (0.6, 1.0), size: tuple[float, float] = (0.25, 0.7)) -> torch.Tensor:
    """A second sensitivity model: ``coils`` small loop coils on an ellipse around the object.

    Each coil sits at a random angle (evenly spaced with jitter and a random rotation) on an ellipse
    of random semi-axes in ``ring`` (relative to the half field of view); its magnitude falls off as
    the on-axis field of a current loop of random radius ``a`` in ``size``,
    ``(1 + (d/a)²)^(-3/2)``, and its phase is the coil's angle plus a small random linear ramp.
    Scaled like ``birdcage_maps`` (peak root-sum-of-squares 1).
    """
    g = generator
    u = lambda lo, hi, n=1: lo + (hi - lo) * torch.rand(n, generator=g)  # noqa: E731
    yy = torch.linspace(-1, 1, h)[:, None]
    xx = torch.linspace(-1, 1, w)[None, :]
    rot = float(u(0, 2 * np.pi))
    ang = rot + torch.arange(coils) * 2 * np.pi / coils + u(-0.3, 0.3, coils) * np.pi / coils
    ry, rx = float(u(*ring)), float(u(*ring))
    maps = []
    for c in range(coils):
        cy, cx = ry * float(torch.sin(ang[c])), rx * float(torch.cos(ang[c]))
        a = float(u(*size))
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        mag = (1 + d2 / a ** 2) ** -1.5
        ph = float(ang[c]) + float(u(-1, 1)) * yy + float(u(-1, 1)) * xx
        maps.append(torch.polar(mag.float(), ph.float()))
    maps = torch.stack(maps).to(torch.complex64)
    return maps / rss(maps, 0).max()


def simulate_kspace(mag: np.ndarray, cfg: SimConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Magnitude ``(slices, H, W)`` → (k-space ``(slices[, coils], H_enc, W)`` complex64, target ``(slices, H, W)``).

    The target is fastMRI's: the root-sum-of-squares (single-coil: the magnitude) of the fully sampled,
    *noisy* k-space. ``simulate`` also returns the same image without the noise."""
    k, target, _ = simulate(mag, cfg)
    return k, target


def simulate(mag: np.ndarray, cfg: SimConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``simulate_kspace``'s (k-space, target) and the noiseless target ``(slices, H, W)``: the same
    root-sum-of-squares (magnitude) of the coil images before the noise is added, i.e. the truth a
    reconstruction of this k-space estimates. Against fastMRI's noisy target, part of the score rewards
    keeping the noise of the sampled k-space lines, which that target shares."""
    g = torch.Generator().manual_seed(cfg.seed)
    mag_t = torch.as_tensor(np.asarray(mag, np.float32))
    s, h, w = mag_t.shape
    phase = smooth_phase((h, w), g, batch=s, max_amplitude=cfg.max_phase)
    x = torch.polar(mag_t, phase)  # (S, H, W)
    if cfg.readout_oversampling > 1:
        hp = h * cfg.readout_oversampling
        pad = torch.zeros((s, hp, w), dtype=torch.complex64)
        top = (hp - h) // 2
        pad[:, top:top + h] = x
        x = pad
    obj = mag_t[mag_t > 0.1 * mag_t.max()]
    sigma = float(obj.mean()) / (10 ** (cfg.snr_db / 20)) if obj.numel() else 0.0
    if cfg.coils and cfg.coils > 1:
        maps = birdcage_maps(cfg.coils, x.shape[-2], w, cfg.coil_radius)
        coil_imgs = maps[None] * x[:, None]
    else:
        coil_imgs = x
    k = fft2c(coil_imgs)
    noise = torch.complex(torch.randn(k.shape, generator=g), torch.randn(k.shape, generator=g)) * (sigma / np.sqrt(2))
    clean = rss(coil_imgs, 1) if k.dim() == 4 else coil_imgs.abs()
    k = (k + noise).to(torch.complex64)
    imgs = ifft2c(k)
    target = rss(imgs, 1) if k.dim() == 4 else imgs.abs()
    return k, center_crop(target, (h, w)).float(), center_crop(clean, (h, w)).float()


def write_simulated(path, mag: np.ndarray, cfg: SimConfig, patient_id: str = "sim") -> Path:
    """Simulate and write one fastMRI-layout file (atomically), with the noiseless target beside fastMRI's
    (``NOISELESS_KEY``)."""
    k, target, clean = simulate(mag, cfg)
    h, w = target.shape[-2:]
    h_enc = k.shape[-2]
    pix = cfg.fov_mm / w
    header = make_header((h_enc, w, 1), (h, w, 1), (pix * h_enc, cfg.fov_mm, cfg.slice_thickness_mm),
                         (pix * h, cfg.fov_mm, cfg.slice_thickness_mm))
    tgt = target.numpy()
    attrs = {"max": float(tgt.max()), "norm": float(np.linalg.norm(tgt)), "acquisition": cfg.acquisition,
             "patient_id": patient_id, "snr_db": cfg.snr_db, "simulated": True}
    return write_fastmri_file(path, k.numpy(), target=tgt, header=header, attrs=attrs, noiseless=clean.numpy())


def simulate_dataset(images: np.ndarray, out_dir, *, n_files: int, slices_per_file: int, cfg: SimConfig,
                     prefix: str = "sim", progress=None) -> list[Path]:
    """Write ``n_files`` files of ``slices_per_file`` consecutive slices taken evenly from ``images``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(images)
    starts = np.linspace(0, max(n - slices_per_file, 0), n_files).astype(int)
    paths = []
    for i, st in enumerate(starts):
        c = dataclasses.replace(cfg, seed=cfg.seed * 1000 + i)
        path = write_simulated(out_dir / f"{prefix}{i:04d}.h5", images[st:st + slices_per_file], c,
                               patient_id=f"{prefix}{i:04d}")
        paths.append(path)
        if progress:
            progress(path)
    return paths
