"""Batch reconstruction driver: files → masks → operators → solver → fastMRI reconstruction files.

This is the wiring layer (it may use io, data, physics, models and recon); solvers stay file-free.
Outputs are written atomically; finished outputs are skipped unless ``overwrite``; a failing file
is recorded and the batch goes on.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from mrirecon.data.masks import create_mask_for_mask_type, mask_2d, seed_from_filename
from mrirecon.io import FastMRIFile, FastMRIFileError, atomic_path, save_nifti, write_reconstruction
from mrirecon.physics import MultiCoilMRI, SingleCoilMRI, center_crop
from mrirecon.physics.coils import estimate_maps


@dataclasses.dataclass
class ReconConfig:
    method: str = "zero-filled"
    challenge: str | None = None  # singlecoil | multicoil | None (from the file)
    mask_type: str = "random"
    accelerations: tuple[int, ...] = (4,)
    center_fractions: tuple[float, ...] = (0.08,)
    use_file_mask: bool = True
    batch_size: int = 4
    seed: int = 0
    device: str = "auto"
    weights: str | None = None
    unet_weights: str | None = None
    samples: int = 1
    t0: float | str | None = None
    steps: int | None = None
    lamda: float | None = None
    lr: float | None = None
    eta: float | None = None
    dc: str | None = None
    dc_mode: str | None = None
    dc_weight: float | None = None
    final_dc: str | None = None  # U-Net: none | replace | cg
    max_iter: int | None = None
    options: dict = dataclasses.field(default_factory=dict)  # further solver options (--option KEY=VALUE)
    save: tuple[str, ...] = ()
    overwrite: bool = False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("--device cuda asked for, but no CUDA device is available")
    return torch.device(name)


def file_mask(f: FastMRIFile, cfg: ReconConfig) -> tuple[torch.Tensor, str]:
    """``(H, W)`` mask for the file: its own ``mask`` if present, else the configured family seeded
    by the file name (so every method sees the same mask), zeroed outside the header's padding."""
    h, w = f.kspace_shape[-2:]
    if f.mask is not None and cfg.use_file_mask:
        return f.mask[None, :].expand(h, w).clone(), "file"
    func = create_mask_for_mask_type(cfg.mask_type, list(cfg.center_fractions), list(cfg.accelerations))
    m, _ = mask_2d(func, f.kspace_shape, seed=seed_from_filename(f.path.name))
    if f.header is not None and 0 <= f.header.padding_left < f.header.padding_right <= w:
        m = m.clone()
        m[:, :f.header.padding_left] = 0
        m[:, f.header.padding_right:] = 0
    return m, f"{cfg.mask_type} R={list(cfg.accelerations)} cf={list(cfg.center_fractions)}"


def build_operator(y: torch.Tensor, mask: torch.Tensor, multicoil: bool):
    """Operator for a batch of measurements ``y`` (``(B, H, W)`` or ``(B, C, H, W)``)."""
    if not multicoil:
        return SingleCoilMRI(mask), {}
    maps, infos = [], []
    for j in range(y.shape[0]):
        mp, info = estimate_maps(y[j], mask[0])
        maps.append(mp)
        infos.append(info)
    return MultiCoilMRI(mask, torch.stack(maps)), {"maps": infos[0]}


def reconstruct_file(path: Path, out_dir: Path, solver: Callable, cfg: ReconConfig, device: torch.device,
                     slice_progress=None, f: FastMRIFile | None = None) -> dict:
    """Reconstruct one file (``f``: the already opened reader, if any); returns a record with timing.
    Raises on a bad file."""
    f = f or FastMRIFile(path)
    if cfg.challenge == "singlecoil" and f.multicoil:
        raise FastMRIFileError(path, "multi-coil k-space but --challenge singlecoil")
    if cfg.challenge == "multicoil" and not f.multicoil:
        raise FastMRIFileError(path, "single-coil k-space but --challenge multicoil")
    mask, mask_desc = file_mask(f, cfg)
    recon_size = f.recon_size
    vols, stds = [], []
    t0 = time.time()
    gen_seed = cfg.seed
    info = {}
    for start in range(0, f.num_slices, cfg.batch_size):
        idx = slice(start, min(start + cfg.batch_size, f.num_slices))
        k = f.read_kspace(idx)
        y = k * (mask if not f.multicoil else mask[None])
        op, info = build_operator(y, mask, f.multicoil)
        op, y = op.to(device), y.to(device)
        result = solver(op, y, seed=gen_seed + start)
        x, std = (result if isinstance(result, tuple) else (result, None))
        vols.append(center_crop(x.abs(), recon_size).float().cpu())
        if std is not None:
            stds.append(center_crop(std, recon_size).float().cpu())
        if slice_progress:
            slice_progress(idx.stop - idx.start)
    vol = torch.cat(vols).numpy()
    seconds = time.time() - t0
    out = out_dir / path.name
    write_reconstruction(out, vol, mask=mask[0].numpy(), std=torch.cat(stds).numpy() if stds else None,
                         method=cfg.method, mask_desc=mask_desc, seconds=seconds)
    if "nifti" in cfg.save:
        vox = f.header.voxel_size_mm() if f.header else None
        save_nifti(out_dir / (path.stem + ".nii.gz"), vol, vox or (1.0, 1.0, 1.0))
    if "png" in cfg.save:
        save_png_preview(out_dir / (path.stem + ".png"), vol)
    return {"file": path.name, "slices": f.num_slices, "seconds": round(seconds, 3),
            "seconds_per_slice": round(seconds / f.num_slices, 4), "mask": mask_desc, **info}


def save_png_preview(path: Path, vol: np.ndarray, cols: int = 6) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def list_inputs(inp: Path) -> list[Path]:
    inp = Path(inp)
    if inp.is_dir():
        return sorted(p for p in inp.glob("*.h5"))
    if not inp.exists():
        raise FileNotFoundError(f"{inp}: input not found")
    return [inp]


def run_batch(inp: Path, out_dir: Path, solver: Callable, cfg: ReconConfig, *, rank: int = 0, world: int = 1,
              run_info: dict | None = None, log=print) -> dict:
    """Reconstruct every file of ``inp`` (this rank's share), skipping finished outputs.

    Returns ``{"done": [...], "skipped": [...], "failed": [...]}``; failures are also written to
    ``failures[.rankN].json`` in ``out_dir``.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = list_inputs(inp)
    mine = files[rank::world]
    device = resolve_device(cfg.device)
    result = {"done": [], "skipped": [], "failed": []}
    for stale in out_dir.glob(".*.tmp"):  # temp files of a run that was killed mid-write
        if world == 1 or any(stale.name.startswith(f".{p.name}.") for p in mine):
            stale.unlink(missing_ok=True)
    if rank == 0:
        info = {"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()},
                "versions": _versions(), "inputs": [p.name for p in files], "world_size": world,
                "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **(run_info or {})}
        with atomic_path(out_dir / "run_config.json") as tmp:
            Path(tmp).write_text(json.dumps(info, indent=2, default=str))
    fbar = tqdm(mine, desc=f"files[{rank}]" if world > 1 else "files", unit="file", position=0, dynamic_ncols=True)
    for path in fbar:
        out = out_dir / path.name
        if out.exists() and not cfg.overwrite:
            result["skipped"].append(path.name)
            continue
        try:
            f = FastMRIFile(path)
            with tqdm(total=f.num_slices, desc=path.name, unit="slice", leave=False, position=1,
                      dynamic_ncols=True) as sbar:
                rec = reconstruct_file(path, out_dir, solver, cfg, device, slice_progress=sbar.update, f=f)
            result["done"].append(rec)
        except Exception as exc:  # a bad file never stops the batch
            msg = str(exc) if isinstance(exc, FastMRIFileError) else f"{path}: {type(exc).__name__}: {exc}"
            log(f"error: {msg}")
            result["failed"].append({"file": path.name, "error": msg,
                                     "traceback": traceback.format_exc(limit=3)})
    name = "failures.json" if world == 1 else f"failures.rank{rank}.json"
    with atomic_path(out_dir / name) as tmp:
        Path(tmp).write_text(json.dumps(result["failed"], indent=2))
    with atomic_path(out_dir / ("timings.json" if world == 1 else f"timings.rank{rank}.json")) as tmp:
        Path(tmp).write_text(json.dumps(result["done"], indent=2))
    return result


def _versions() -> dict:
    import mrirecon

    v = {"mrirecon": mrirecon.__version__, "torch": torch.__version__, "numpy": np.__version__,
         "python": platform.python_version()}
    try:
        import sigpy

        v["sigpy"] = sigpy.__version__
    except Exception:  # pragma: no cover
        pass
    return v
