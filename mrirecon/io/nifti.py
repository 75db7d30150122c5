"""NIfTI export / import of magnitude volumes with nibabel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mrirecon.io.atomic import atomic_path


def geometry_affine(geometry: dict, shape, voxel_size_mm) -> np.ndarray:
    """NIfTI (RAS) affine of a ``(slices, H, W)`` volume stored by ``save_nifti`` whose DICOM-style
    geometry (patient LPS coordinates: per-slice centre position, read = column direction of rows,
    phase = row direction) comes from the raw data (``io.dicom.slice_geometry``): voxel (i, j, k) of
    the NIfTI array is image row H−1−j, column i, slice k."""
    from mrirecon.io.dicom import slice_geometry

    n, h, w = shape
    dr, dc, dz = (float(v) for v in voxel_size_mm)
    geo = slice_geometry(geometry, n, (h, w), (dr, dc, dz))
    rowcos, colcos = np.asarray(geo[0][0][:3]), np.asarray(geo[0][0][3:])
    ipp0 = np.asarray(geo[0][1])
    step = np.asarray(geo[1][1]) - ipp0 if n > 1 else np.cross(rowcos, colcos) * dz
    lps = np.eye(4)
    lps[:3, 0] = dc * rowcos
    lps[:3, 1] = -dr * colcos
    lps[:3, 2] = step
    lps[:3, 3] = ipp0 + (h - 1) * dr * colcos
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # LPS -> RAS


def save_nifti(path, volume, voxel_size_mm=(1.0, 1.0, 1.0), affine=None) -> Path:
    """Write ``volume`` ``(slices, H, W)`` as NIfTI with axes (W, H, slices) = (x, y, z).

    ``voxel_size_mm`` is (row spacing, column spacing, slice spacing) of the image grid; ``affine``
    (4×4, RAS) replaces the diagonal one built from it (e.g. ``geometry_affine`` from raw data).
    """
    import nibabel as nib

    vol = np.asarray(volume.detach().cpu() if torch.is_tensor(volume) else volume, np.float32)
    if vol.ndim == 2:
        vol = vol[None]
    data = np.ascontiguousarray(np.transpose(vol, (2, 1, 0))[:, ::-1, :])  # x=columns, y=rows (up), z=slices
    dy, dx, dz = (float(v) for v in voxel_size_mm)
    affine = np.diag([dx, dy, dz, 1.0]) if affine is None else np.asarray(affine, float)
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
    zooms = (tuple(img.header.get_zooms()) + (1.0, 1.0, 1.0))[:3]  # a 2-D image: one slice of thickness 1
    vol = np.transpose(data[:, ::-1, :], (2, 1, 0))
    return np.ascontiguousarray(vol), (float(zooms[1]), float(zooms[0]), float(zooms[2])), img
