"""One file through the engine: fastMRI file → mask → operator → solver → fastMRI reconstruction file.

A solver never reads files and a reader never knows about solvers: this module is where they meet.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from mrirecon.data.masks import create_mask_for_mask_type, mask_2d, seed_from_filename
from mrirecon.diffusion.schedule import item_generators
from mrirecon.io import FastMRIFile, FastMRIFileError, save_nifti, write_reconstruction
from mrirecon.physics import MultiCoilMRI, SingleCoilMRI, center_crop
from mrirecon.physics.coils import estimate_maps
from mrirecon.pipeline.config import ReconConfig


def file_mask(f: FastMRIFile, cfg: ReconConfig) -> tuple[torch.Tensor, str]:
    """``(H, W)`` mask for the file: its own ``mask`` if present, else the configured family seeded
    by the file name (so every method sees the same mask), zeroed outside the header's padding."""
    h, w = f.kspace_shape[-2:]
    if f.mask is not None and cfg.use_file_mask:
        if not bool((f.mask != 0).any()):
            raise FastMRIFileError(f.path, "the file's mask samples no phase-encoding line (all zero)")
        return f.mask[None, :].expand(h, w).clone(), "file"
    func = create_mask_for_mask_type(cfg.mask_type, list(cfg.center_fractions), list(cfg.accelerations))
    m, _ = mask_2d(func, f.kspace_shape, seed=seed_from_filename(f.path.name))
    if f.header is not None and 0 <= f.header.padding_left < f.header.padding_right <= w:
        m = m.clone()
        m[:, :f.header.padding_left] = 0
        m[:, f.header.padding_right:] = 0
    return m, f"{cfg.mask_type} R={list(cfg.accelerations)} cf={list(cfg.center_fractions)}"


def build_operator(y: torch.Tensor, mask: torch.Tensor, multicoil: bool):
    """Operator for a batch of measurements ``y`` (``(B, H, W)`` or ``(B, C, H, W)``); multi-coil maps
    are estimated from each slice's auto-calibration lines (``physics.coils.estimate_maps``)."""
    if not multicoil:
        return SingleCoilMRI(mask), {}
    maps, infos = [], []
    for j in range(y.shape[0]):
        mp, info = estimate_maps(y[j], mask[0])
        maps.append(mp)
        infos.append(info)
    return MultiCoilMRI(mask, torch.stack(maps)), {"maps": infos[0]}


SAFE_LOG2_RANGE = 40  # k-space peaks within 2^±40 (~1e±12) are used as they are


#: per-slice facts a solver reports in ``Result.info`` that a file's record keeps: the U-Net's data-consistency
#: weight (``None``: no consistency), its CG-SENSE input's weight, its passes, the weight of its estimate in the
#: L1-wavelet consistency solve (``dc_l1_mu``; ``None``: the CG solve kept) and CCDF's noise level validated on
#: held-out k-space; CS's λ (relative to the slice's scale) and how it was chosen (``--lamda sure`` falls back to
#: auto per slice); the U-Net's GSURE choice (``--dc-l1 sure``)
PER_SLICE_FACTS = ("dc_mu", "input_mu", "passes", "dc_l1_mu", "noise_sigma_validated", "lamda", "lamda_rule",
                   "dc_sure")


def power_of_two_scale(y: torch.Tensor) -> float:
    """1 for ordinary data; 2^round(log2(max|y|)) when the measurement's peak lies outside 2^±40, so
    extreme intensity scales (1e±30) can neither overflow nor underflow in coil-map estimation
    (products of k-space values), CG or the networks. Dividing by a power of two is exact in floating
    point, and every solver is scale-equivariant, so the image is the same up to that exact factor."""
    peak = float(y.abs().max())
    if not (peak > 0 and math.isfinite(peak)) or abs(math.log2(peak)) <= SAFE_LOG2_RANGE:
        return 1.0
    return float(2.0 ** round(math.log2(peak)))


def check_output(x: torch.Tensor, what: str, path) -> None:
    if not bool(torch.isfinite(x).all()):
        raise FastMRIFileError(path, f"non-finite values after {what}; nothing written")
    if not bool((x != 0).any()):
        raise FastMRIFileError(path, f"the image after {what} is all zero; nothing written")


def reconstruct_volume(f: FastMRIFile, solver, cfg: ReconConfig, device: torch.device, slice_progress=None):
    """``(magnitude (slices, h, w) float32 cropped to the recon size, std or None, mask (H, W), mask
    description, info)``. Slice i draws its noise from a generator seeded ``cfg.seed + i``. Raises
    ``FastMRIFileError`` naming the cause for data that cannot give an image (all-zero k-space or
    mask, non-finite or all-zero output)."""
    if cfg.challenge == "singlecoil" and f.multicoil:
        raise FastMRIFileError(f.path, "multi-coil k-space but --challenge singlecoil")
    if cfg.challenge == "multicoil" and not f.multicoil:
        raise FastMRIFileError(f.path, "single-coil k-space but --challenge multicoil")
    mask, mask_desc = file_mask(f, cfg)
    recon_size = f.recon_size
    vols, stds, info, sigmas = [], [], {}, []
    facts: dict[str, list] = {}  # per-slice weights the solver chose from the data (e.g. the U-Net's dc_mu)
    noise = f.read_noise()
    noise_scan = None
    if noise is not None:
        from mrirecon.physics.noise import sigma_from_noise_scan

        noise_scan = sigma_from_noise_scan(noise)
    for start in range(0, f.num_slices, cfg.batch_size):
        idx = slice(start, min(start + cfg.batch_size, f.num_slices))
        k = f.read_kspace(idx)
        y = k * (mask if not f.multicoil else mask[None])
        zero = [start + i for i in range(len(y)) if not bool((y[i] != 0).any())]
        if zero:
            what = "k-space" if not bool((k[zero[0] - start] != 0).any()) else "the sampled k-space"
            raise FastMRIFileError(f.path, f"{what} of slice {zero[0]} is all zero")
        scale = power_of_two_scale(y)
        y = y / scale
        op, info = build_operator(y, mask, f.multicoil)
        if f.multicoil:
            check_output(op.maps, "coil-map estimation", f.path)
        if noise_scan is not None:  # the file's noise scan, else an estimate from the data
            sigma = torch.full((y.shape[0],), float((noise_scan ** 2).mean().sqrt()) / scale)
        else:
            sigma = op.estimate_noise(y)
        op.with_noise(sigma)
        sigmas.append(sigma * scale)
        op, y = op.to(device), y.to(device)
        res = solver(op, y, generator=item_generators(cfg.seed + start, y.shape[0], device))
        check_output(res.image, cfg.method, f.path)
        for key in PER_SLICE_FACTS:
            if key in res.info:
                unit = scale if key == "noise_sigma_validated" else 1.0  # back to the file's intensity units
                facts.setdefault(key, []).extend(v if v is None or isinstance(v, (int, str, dict)) else float(v) * unit
                                                 for v in res.info[key])
        image = res.image.abs() * scale
        check_output(image, f"{cfg.method} (rescaled to the data's intensity)", f.path)
        vols.append(center_crop(image, recon_size).float().cpu())
        if res.std is not None:
            stds.append(center_crop(res.std * scale, recon_size).float().cpu())
        if slice_progress:
            slice_progress(idx.stop - idx.start)
    vol = torch.cat(vols).numpy()
    std = torch.cat(stds).numpy() if stds else None
    info = {**info, "noise_sigma": [float(v) for v in torch.cat(sigmas)],
            "noise_source": "noise scan" if noise_scan is not None else "estimated from k-space", **facts}
    return vol, std, mask, mask_desc, info


def reconstruct_file(path: Path, out_dir: Path, solver, cfg: ReconConfig, device: torch.device,
                     slice_progress=None, f: FastMRIFile | None = None, provenance: dict | None = None,
                     before_write=None) -> dict:
    """Reconstruct one file into ``out_dir`` (``f``: the already opened reader, if any); returns a
    record with timing. Raises on a bad file. ``provenance`` (method, options, versions, weight
    hashes) is stored in the output's attributes; resume compares it. ``before_write`` (no arguments)
    is called once the reconstruction is done, before the first output is written (the batch holds
    SIGTERM there until the file's record is kept)."""
    path = Path(path)
    f = f or FastMRIFile(path)
    t0 = time.time()
    vol, std, mask, mask_desc, info = reconstruct_volume(f, solver, cfg, device, slice_progress)
    seconds = time.time() - t0
    out = Path(out_dir) / path.name
    vox = f.header.voxel_size_mm() if f.header else None
    carried = {k: f.attrs[k] for k in ("geometry", "patient_id", "acquisition") if k in f.attrs}
    stored_mask = mask[0] if bool((mask == mask[:1]).all()) else mask  # a 2-D (Poisson) mask is stored 2-D
    if before_write is not None:
        before_write()
    write_reconstruction(out, vol, mask=stored_mask.numpy(), std=std, method=cfg.method, mask_desc=mask_desc,
                         seconds=seconds, acceleration=_acceleration(mask), voxel_size_mm=list(vox or (1.0, 1.0, 1.0)),
                         provenance=json.dumps(provenance or {}, sort_keys=True, default=str),
                         noise_sigma=np.asarray(info["noise_sigma"], np.float64), noise_source=info["noise_source"],
                         **carried)
    if "nifti" in cfg.save:
        affine = None
        if f.attrs.get("geometry"):
            from mrirecon.io.nifti import geometry_affine

            affine = geometry_affine(json.loads(f.attrs["geometry"]), vol.shape, vox or (1.0, 1.0, 1.0))
        save_nifti(Path(out_dir) / (path.stem + ".nii.gz"), vol, vox or (1.0, 1.0, 1.0), affine=affine)
    if "png" in cfg.save:
        save_png_preview(Path(out_dir) / (path.stem + ".png"), vol)
    if "dicom" in cfg.save:
        from mrirecon.pipeline.export import export_dicom

        export_dicom(out, Path(out_dir) / (path.stem + "_dicom"), overwrite=True)
    return {"file": path.name, "slices": f.num_slices, "seconds": round(seconds, 3),
            "seconds_per_slice": round(seconds / f.num_slices, 4), "mask": mask_desc, **info,
            "noise_sigma_mean": float(np.mean(info["noise_sigma"]))}


def _acceleration(mask: torch.Tensor) -> float:
    """Achieved acceleration: the sampled fraction of the mask, inverted."""
    return round(1.0 / max(float(mask.float().mean()), 1e-6), 2)


def save_png_preview(path: Path, vol: np.ndarray, cols: int = 6) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrirecon.io.atomic import atomic_path

    n = len(vol)
    cols = min(cols, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    vmax = float(np.percentile(vol, 99.5)) or 1.0
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(vol[i], cmap="gray", vmin=0, vmax=vmax)
            ax.set_title(f"slice {i}", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)
    plt.close(fig)
    return path
