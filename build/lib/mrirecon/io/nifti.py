"""NIfTI export / import of magnitude volumes with nibabel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mrirecon.io.atomic import atomic_path


def save_nifti(path, volume, voxel_size_mm=(1.0, 1.0, 1.0)) -> Path:
    """Write ``volume`` ``(slices, H, W)`` as NIfTI with axes (W, H, slices) = (x, y, z).

    ``voxel_size_mm`` is (row spacing, column spacing, slice spacing) of the image grid.
    """
    import nibabel as nib

    vol = np.asarray(volume.detach().cpu() if torch.is_tensor(volume) else volume, np.float32)
    if vol.ndim == 2:
        vol = vol[None]
    data = np.ascontiguousarray(np.transpose(vol, (2, 1, 0))[:, ::-1, :])  # x=columns, y=rows (up), z=slices
    dy, dx, dz = (float(v) for v in voxel_size_mm)
    affine = np.diag([dx, dy, dz, 1.0])
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    path = Path(path)
    suffix = ".nii.gz" if str(path).endswith(".gz") else ".nii"
    with atomic_path(path) as tmp:
        nib.save(img, tmp + suffix)
        Path(tmp + suffix).replace(tmp)
    return path


def load_nifti(path) -> tuple[np.ndarray, tuple[float, float, float], object]:
    """Read a NIfTI as ``(slices, H, W)`` (inverse of ``save_nifti``) with (row, col, slice) spacing."""
    import nibabel as nib

    img = nib.load(str(path))
    data = np.asarray(img.get_fdata(dtype=np.float32))
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D NIfTI volume, got shape {data.shape}")
    zooms = img.header.get_zooms()[:3]
    vol = np.transpose(data[:, ::-1, :], (2, 1, 0))
    return np.ascontiguousarray(vol), (float(zooms[1]), float(zooms[0]), float(zooms[2])), img
