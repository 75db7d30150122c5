"""DICOM export of magnitude reconstructions with pydicom: one MR Image Storage series per volume.

One instance per slice, fresh UIDs, 16-bit unsigned pixels with ``RescaleSlope`` (pixel × slope =
the reconstruction, so the round trip is exact within half a quantisation step), window centre /
width from the volume, the method and acceleration in the series description, and geometry (pixel
spacing, slice thickness, orientation, position) from the raw data's header where known, else an
axial stack. The series is written into a temporary folder and renamed into place (atomic).
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
from pathlib import Path

import numpy as np

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def slice_geometry(geometry: dict | None, n_slices: int, shape, spacing) -> list[tuple[list, list]]:
    """(ImageOrientationPatient, ImagePositionPatient) per slice. Image rows run along the readout
    (kx) and columns along the phase encoding (ky), so the row direction cosine is the phase direction
    and the column direction cosine the readout direction; positions are slice centres from the header
    moved to the first voxel. Without geometry: an axial stack at z = i × slice spacing."""
    rows, cols = shape
    dr, dc, dz = spacing
    out = []
    for i in range(n_slices):
        g = (geometry or {}).get("slices", [None] * n_slices)[i] if geometry else None
        if g:
            rowcos, colcos = _unit(g["phase_dir"]), _unit(g["read_dir"])
            centre = np.asarray(g["position"], float)
        else:
            rowcos, colcos = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
            centre = np.array([0.0, 0.0, i * dz]) + (cols - 1) / 2 * dc * rowcos + (rows - 1) / 2 * dr * colcos
        ipp = centre - (cols - 1) / 2 * dc * rowcos - (rows - 1) / 2 * dr * colcos
        out.append(([float(round(v, 6)) for v in (*rowcos, *colcos)], [float(round(v, 4)) for v in ipp]))
    return out


def write_dicom_series(out_dir, volume, *, pixel_spacing=(1.0, 1.0), slice_thickness: float = 1.0,
                       geometry: dict | None = None, series_description: str = "mrirecon reconstruction",
                       patient_id: str = "", patient_name: str = "Anonymous^", study_uid: str | None = None,
                       patient_position: str = "HFS",
                       overwrite: bool = False) -> Path:
    """Write ``volume`` ``(slices, rows, cols)`` (magnitude, ≥ 0) as a DICOM series in ``out_dir``
    (``IM0001.dcm`` …). ``pixel_spacing`` is (row spacing, column spacing) in mm."""
    import pydicom
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    vol = np.asarray(volume, np.float64)
    if vol.ndim == 2:
        vol = vol[None]
    if vol.ndim != 3 or 0 in vol.shape:
        raise ValueError(f"{out_dir}: DICOM export needs a (slices, rows, cols) volume, got shape {vol.shape}")
    if not np.isfinite(vol).all():
        raise ValueError(f"{out_dir}: the volume has NaN or Inf values; nothing written")
    vol = np.clip(vol, 0, None)
    vmax = float(vol.max())
    if vmax <= 0:
        raise ValueError(f"{out_dir}: the volume is all zero; nothing written")
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: exists (overwrite to replace it)")
    slope = vmax / 65535.0
    pix = np.round(vol / slope).astype(np.uint16)
    now = datetime.datetime.now()
    study_uid = study_uid or generate_uid()
    series_uid, frame_uid = generate_uid(), generate_uid()
    dz = float(slice_thickness)
    geo = slice_geometry(geometry, len(vol), vol.shape[1:], (float(pixel_spacing[0]), float(pixel_spacing[1]), dz))
    normal = np.cross(np.asarray(geo[0][0][:3]), np.asarray(geo[0][0][3:]))
    p = vol[vol > 0]
    lo, hi = (float(np.percentile(p, 1)), float(np.percentile(p, 99.5))) if p.size else (0.0, vmax)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        for i, img in enumerate(pix):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            meta.ImplementationClassUID = pydicom.uid.PYDICOM_IMPLEMENTATION_UID
            ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID, ds.SOPInstanceUID = MR_IMAGE_STORAGE, meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
            ds.Modality, ds.Manufacturer = "MR", "mrirecon"
            ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = patient_name, patient_id, "", ""
            ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
            ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
            ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "", "", "1"
            ds.SeriesNumber, ds.InstanceNumber = 1, i + 1
            ds.SeriesDescription = series_description[:64]
            ds.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
            ds.Laterality, ds.PatientPosition = "", patient_position
            ds.PositionReferenceIndicator = ""
            ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "RM", "NONE", "", "2D"
            ds.EchoTime, ds.RepetitionTime, ds.EchoTrainLength = "", "", ""
            ds.SliceThickness = dz
            ds.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]
            ds.ImageOrientationPatient = geo[i][0]
            ds.ImagePositionPatient = geo[i][1]
            ds.SliceLocation = float(np.dot(normal, geo[i][1]))
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.Rows, ds.Columns = int(img.shape[0]), int(img.shape[1])
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, f"{slope:.10g}"[:16], "US"
            ds.WindowCenter, ds.WindowWidth = f"{(lo + hi) / 2:.6g}", f"{max(hi - lo, slope):.6g}"
            ds.VOILUTFunction = "LINEAR_EXACT"  # raw-data units: the window may be narrower than 1
            ds.PixelData = np.ascontiguousarray(img).tobytes()
            ds.save_as(tmp / f"IM{i + 1:04d}.dcm", enforce_file_format=True)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def read_dicom_series(folder) -> tuple[np.ndarray, list]:
    """``(volume (slices, rows, cols) float64 in reconstruction units, datasets)`` sorted by InstanceNumber."""
    import pydicom

    dss = sorted((pydicom.dcmread(p) for p in sorted(Path(folder).glob("*.dcm"))), key=lambda d: int(d.InstanceNumber))
    vol = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in dss])
    return vol, dss
