"""Super-resolution of images: NIfTI volumes (slice by slice, in-plane), .npy arrays or PNG images,
through the registered ``sr`` methods (bicubic, sr3, ccdf, red-diff) with the ``Downsample``
operator — the same solver code as MRI reconstruction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mrirecon.diffusion.schedule import item_generators
from mrirecon.io.atomic import atomic_path
from mrirecon.physics.sr import Downsample
from mrirecon.pipeline.solvers import build_solver


def read_image(path: Path):
    """→ (volume (slices, h, w) float32, voxel (row, col, slice) or None, kind)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        from mrirecon.io.nifti import load_nifti

        vol, vox, img = load_nifti(path)
        return vol, {"voxel": vox, "affine": np.asarray(img.affine, float)}, "nifti"
    if name.endswith(".npy"):
        arr = np.load(path)
        if arr.ndim not in (2, 3):
            raise ValueError(f"{path}: expected a 2-D image or a (slices, H, W) stack, got shape {arr.shape}")
        return (arr[None] if arr.ndim == 2 else arr).astype(np.float32), None, "npy"
    if name.endswith(".png"):
        import matplotlib.image as mpimg

        img = mpimg.imread(str(path))
        if img.ndim == 3:
            img = img[..., :3].mean(-1)
        return img[None].astype(np.float32), None, "png"
    raise ValueError(f"{path}: unsupported input (use .nii, .nii.gz, .npy or .png)")


def upsampled_affine(affine: np.ndarray, factor: int) -> np.ndarray:
    """The affine of an in-plane ×``factor`` upsampling of a volume stored by ``save_nifti`` (x, y the
    in-plane axes): voxel sizes / factor, origin moved so the new voxel centres tile the old voxels
    (old index i = i'/f + (1/f − 1)/2); orientation kept."""
    f = float(factor)
    t = np.eye(4)
    t[0, 0] = t[1, 1] = 1.0 / f
    t[0, 3] = t[1, 3] = (1.0 / f - 1.0) / 2.0
    return np.asarray(affine, float) @ t


def write_image(path: Path, vol: np.ndarray, geo, kind: str, factor: int = 1) -> Path:
    path = Path(path)
    if kind == "nifti" or str(path).endswith((".nii", ".nii.gz")):
        from mrirecon.io.nifti import save_nifti

        geo = geo or {}
        vox = geo.get("voxel") or (1.0, 1.0, 1.0)
        vox = (vox[0] / factor, vox[1] / factor, vox[2])
        affine = upsampled_affine(geo["affine"], factor) if geo.get("affine") is not None else None
        return save_nifti(path, vol, vox, affine=affine)
    if str(path).endswith(".npy"):
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, vol if len(vol) > 1 else vol[0])
        return path
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        plt.imsave(tmp, vol[len(vol) // 2], cmap="gray", format="png", vmin=0, vmax=float(vol.max()) or 1.0)
    return path


def super_resolve(vol: np.ndarray, scale: int, method: str, options: dict | None = None, *, weights=None,
                  seed: int = 0, batch_size: int = 4, device="cpu", solver=None) -> np.ndarray:
    """Super-resolve ``(slices, h, w)`` by ``scale`` with registered SR method ``method`` and its
    options (overrides of the method's SR defaults). Slice i draws noise seeded ``seed + i``."""
    solver = solver or build_solver(method, options, task="sr", weights=weights, device=device)
    op = Downsample(scale)
    dev = torch.device("cpu") if solver.prior is None else next(solver.prior.parameters()).device
    out = []
    for s in range(0, len(vol), batch_size):
        y = torch.from_numpy(np.ascontiguousarray(vol[s:s + batch_size])).float().to(dev)
        if method in ("ccdf", "red-diff"):
            y = y.to(torch.complex64)  # the prior-based solvers work on complex images
        x = solver(op, y, generator=item_generators(seed + s, y.shape[0], dev)).image
        # an SR input is real (magnitude): the estimate is projected back onto real images, which
        # unlike |x| keeps the final consistency exact
        out.append((x.real if x.is_complex() else x).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def super_resolve_file(inp, out, scale: int, method: str, options: dict | None = None, *, weights=None, seed: int = 0,
                       device="cpu") -> tuple[tuple, tuple, int]:
    """Read ``inp``, super-resolve it, write ``out`` (kind from its suffix); returns (in shape, out shape, slices)."""
    inp, out = Path(inp), Path(out)
    if not inp.exists():
        raise FileNotFoundError(f"{inp}: input not found")
    vol, geo, kind = read_image(inp)
    sr = super_resolve(vol, scale, method, options, weights=weights, seed=seed, device=device)
    write_image(out, sr, geo, kind if out.suffix.lower() not in (".npy", ".png") else out.suffix[1:], factor=scale)
    return vol.shape[1:], sr.shape[1:], len(sr)
