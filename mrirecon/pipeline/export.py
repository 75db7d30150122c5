"""Export of reconstruction files (``reconstruction`` + provenance attrs) to DICOM series."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from mrirecon.io.dicom import write_dicom_series


def export_dicom(recon_file, out_dir, overwrite: bool = False) -> Path:
    """One DICOM series from a reconstruction file written by ``mrirecon reconstruct``: voxel size,
    geometry, patient id, method and acceleration come from its attributes."""
    recon_file = Path(recon_file)
    try:
        with h5py.File(recon_file, "r") as hf:
            if "reconstruction" not in hf:
                raise ValueError(f"{recon_file}: no 'reconstruction' dataset (not an mrirecon output)")
            vol = np.asarray(hf["reconstruction"][()], np.float32)
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in hf.attrs.items()}
    except OSError as exc:
        raise ValueError(f"{recon_file}: not a readable HDF5 file ({exc})") from exc
    vox = [float(v) for v in attrs.get("voxel_size_mm", (1.0, 1.0, 1.0))]
    geometry = json.loads(attrs["geometry"]) if attrs.get("geometry") else None
    desc = f"mrirecon {attrs.get('method', 'recon')}"
    if attrs.get("acceleration"):
        desc += f" R={float(attrs['acceleration']):g}"
    return write_dicom_series(out_dir, vol, pixel_spacing=(vox[0], vox[1]), slice_thickness=vox[2], geometry=geometry,
                              series_description=desc, patient_id=str(attrs.get("patient_id", "")), overwrite=overwrite)
