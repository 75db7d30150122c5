"""Raw scanner data → fastMRI HDF5 files that the rest of the toolkit reads unchanged.

``convert(path, out_dir)`` reads ISMRMRD or Siemens twix (``io.raw``), writes ``<out_dir>/<stem>.h5``
atomically with ``kspace`` (``(slices, coils, kx, ky)``, or ``(slices, kx, ky)`` for one coil),
``ismrmrd_header`` (verbatim for ISMRMRD), ``mask`` when lines are missing, ``noise`` when the file
had a noise scan, and the fastMRI targets (``reconstruction_rss`` / ``_esc``: the fully sampled
image cropped to the recon size) only when every line was acquired.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from mrirecon.io.atomic import atomic_path
from mrirecon.io.raw import RawDataError, RawScan, read_raw


def fully_sampled_target(kspace: np.ndarray, recon_size) -> np.ndarray:
    """RSS (multi-coil) or magnitude (single-coil) of the inverse FFT, centre-cropped (fastMRI's targets)."""
    from mrirecon.physics.fft import center_crop, ifft2c, rss

    img = ifft2c(torch.from_numpy(kspace))
    mag = rss(img, 1) if kspace.ndim == 4 else img.abs()
    return center_crop(mag, tuple(recon_size)).numpy().astype(np.float32)


def write_scan(scan: RawScan, out: Path, source: Path) -> Path:
    import h5py

    k = scan.kspace[:, 0] if scan.kspace.shape[1] == 1 else scan.kspace
    with atomic_path(out) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.create_dataset("kspace", data=k)
            hf.create_dataset("ismrmrd_header", data=np.bytes_(scan.header_xml))
            if not scan.fully_sampled:
                hf.create_dataset("mask", data=scan.mask)
            else:
                key = "reconstruction_rss" if k.ndim == 4 else "reconstruction_esc"
                tgt = fully_sampled_target(k, scan.recon_size)
                hf.create_dataset(key, data=tgt)
                hf.attrs["max"] = float(tgt.max())
                hf.attrs["norm"] = float(np.linalg.norm(tgt))
            if scan.noise is not None:
                hf.create_dataset("noise", data=scan.noise)
            for a, v in scan.attrs.items():
                hf.attrs[a] = v
            hf.attrs["source_format"] = scan.source_format
            hf.attrs["source_file"] = source.name
            if scan.geometry:
                hf.attrs["geometry"] = json.dumps(scan.geometry)
    return out


def convert(path, out_dir, overwrite: bool = False) -> Path:
    """Convert one raw file; returns the fastMRI file written. Never modifies the input."""
    path, out_dir = Path(path), Path(out_dir)
    out = out_dir / (path.stem + ".h5")
    if out.resolve() == path.resolve():
        raise RawDataError(path, "the output would overwrite the input; choose another --out folder")
    if out.exists() and not overwrite:
        raise RawDataError(path, f"{out} exists (use --overwrite)")
    scan = read_raw(path)
    out_dir.mkdir(parents=True, exist_ok=True)
    return write_scan(scan, out, path)
