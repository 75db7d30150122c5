"""Scanner raw data → one in-memory Cartesian scan (``RawScan``): ISMRMRD datasets (through the
``ismrmrd`` package) and Siemens twix files (through ``twixtools``).

Layout as fastMRI: ``kspace`` ``(slices, coils, kx, ky)`` with kx the readout (oversampling kept —
fastMRI's encoded space) and ky the phase-encoding lines placed at ``ky + (enc_y // 2 − centre)``
(fastMRI's padding rule), missing lines zero and the sampled lines in ``mask``. Averages are
combined by their mean; noise-scan acquisitions are kept (``noise``, ``(coils, samples)``).
Unsupported data (non-Cartesian, 3-D, missing counters) raise ``RawDataError`` naming the file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mrirecon.io.fastmri import FastMRIFileError, make_header


class RawDataError(FastMRIFileError):
    """Raw data that cannot be converted; the message names the file and what is unsupported."""


@dataclasses.dataclass
class RawScan:
    kspace: np.ndarray  # (slices, coils, kx, ky) complex64
    mask: np.ndarray  # (ky,) bool: lines sampled in every slice
    header_xml: bytes  # ISMRMRD XML header (verbatim for ISMRMRD input, generated for twix)
    recon_size: tuple[int, int]  # (x, y) of the reconstruction grid
    noise: np.ndarray | None = None  # (coils, samples) complex64 noise-scan samples
    geometry: dict | None = None  # per slice: position (mm) and read/phase/slice directions, patient coordinates
    attrs: dict = dataclasses.field(default_factory=dict)
    source_format: str = ""

    @property
    def fully_sampled(self) -> bool:
        return bool(self.mask.all())


def _place(path, entries, n_slices: int, n_coils: int, n_samples: int, enc_y: int, centre: int):
    """Sort (slice, ky, average, data (coils, samples)) into (slices, coils, kx, ky); mean over averages."""
    pad = enc_y // 2 - centre
    k = np.zeros((n_slices, n_coils, n_samples, enc_y), np.complex128)
    count = np.zeros((n_slices, enc_y), np.int64)
    for s, ky, data in entries:
        col = ky + pad
        if not 0 <= col < enc_y:
            raise RawDataError(path, f"phase-encoding line {ky} (column {col}) outside the encoded matrix of {enc_y}")
        if data.shape != (n_coils, n_samples):
            raise RawDataError(path, f"acquisition of shape {data.shape}, expected (coils, samples) = "
                                     f"{(n_coils, n_samples)} (variable readout length is not supported)")
        k[s, :, :, col] += data
        count[s, col] += 1
    sampled = count > 0
    k[:, :, :, :] /= np.maximum(count, 1)[:, None, None, :]
    if not sampled.any():
        raise RawDataError(path, "no imaging acquisitions")
    rows = sampled[sampled.any(1)]
    mask = rows.all(0)
    if not (rows == rows[0]).all():
        raise RawDataError(path, "slices sampled with different phase-encoding lines (per-slice masks are not "
                                 "supported by the fastMRI layout)")
    return k.astype(np.complex64), mask


# --------------------------------------------------------------------------------------- ISMRMRD
_SKIP_FLAGS = ("ACQ_IS_NAVIGATION_DATA", "ACQ_IS_PHASECORR_DATA", "ACQ_IS_DUMMYSCAN_DATA", "ACQ_IS_RTFEEDBACK_DATA",
               "ACQ_IS_HPFEEDBACK_DATA", "ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA", "ACQ_IS_PHASE_STABILIZATION",
               "ACQ_IS_PHASE_STABILIZATION_REFERENCE")


def is_ismrmrd(path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as hf:
            return "dataset" in hf and "xml" in hf["dataset"]
    except OSError:
        return False


def read_ismrmrd(path) -> RawScan:
    import ismrmrd
    import ismrmrd.xsd

    path = Path(path)
    if not is_ismrmrd(path):
        raise RawDataError(path, "not an ISMRMRD dataset (no /dataset/xml)")
    ds = ismrmrd.Dataset(str(path), "dataset", create_if_needed=False)
    try:
        xml = ds.read_xml_header()
        xml = xml if isinstance(xml, bytes) else str(xml).encode()
        try:
            hdr = ismrmrd.xsd.CreateFromDocument(xml)
        except Exception as exc:
            raise RawDataError(path, f"unreadable ISMRMRD header ({type(exc).__name__}: {exc})") from exc
        enc = hdr.encoding[0]
        traj = getattr(enc.trajectory, "value", enc.trajectory)
        if str(traj) != "cartesian":
            raise RawDataError(path, f"trajectory {traj!r}: only Cartesian data is supported")
        ex, ey, ez = enc.encodedSpace.matrixSize.x, enc.encodedSpace.matrixSize.y, enc.encodedSpace.matrixSize.z
        if ez > 1:
            raise RawDataError(path, f"3-D encoding (encoded matrix z = {ez}): only 2-D (multi-slice) data is supported")
        lim = enc.encodingLimits
        centre = lim.kspace_encoding_step_1.center if lim.kspace_encoding_step_1 is not None else ey // 2
        n = ds.number_of_acquisitions()
        if n == 0:
            raise RawDataError(path, "no acquisitions")
        noise, entries, geo = [], [], {}
        for i in range(n):
            acq = ds.read_acquisition(i)
            if acq.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT):
                noise.append(np.asarray(acq.data))
                continue
            if any(acq.is_flag_set(getattr(ismrmrd, f)) for f in _SKIP_FLAGS if hasattr(ismrmrd, f)):
                continue
            if acq.trajectory_dimensions:
                raise RawDataError(path, "acquisitions carry a trajectory: only Cartesian data is supported")
            if acq.idx.kspace_encode_step_2 != 0:
                raise RawDataError(path, "kspace_encode_step_2 is used: 3-D data is not supported")
            data = np.asarray(acq.data)
            if acq.is_flag_set(ismrmrd.ACQ_IS_REVERSE):
                data = data[:, ::-1]
            s = int(acq.idx.slice)
            entries.append((s, int(acq.idx.kspace_encode_step_1), data))
            geo.setdefault(s, {"position": [float(v) for v in acq.position], "read_dir": [float(v) for v in acq.read_dir],
                               "phase_dir": [float(v) for v in acq.phase_dir],
                               "slice_dir": [float(v) for v in acq.slice_dir]})
    finally:
        ds.close()
    if not entries:
        raise RawDataError(path, "no imaging acquisitions (only noise / navigator / calibration flags)")
    lines = {(s, ky) for s, ky, _ in entries}
    if len(entries) > 1 and len({ky for _, ky in lines}) == 1 and len(lines) < len(entries) and ey > 1:
        raise RawDataError(path, "every acquisition has the same kspace_encode_step_1: missing encoding counters")
    n_slices = max(s for s, _, _ in entries) + 1
    coils, samples = entries[0][2].shape
    if samples != ex:
        raise RawDataError(path, f"readout of {samples} samples but the encoded matrix x is {ex}")
    k, mask = _place(path, entries, n_slices, coils, samples, ey, centre)
    geometry = {"slices": [geo.get(s) for s in range(n_slices)],
                "recon_fov_mm": [enc.reconSpace.fieldOfView_mm.x, enc.reconSpace.fieldOfView_mm.y,
                                 enc.reconSpace.fieldOfView_mm.z]} if geo else None
    attrs = {"patient_id": "", "acquisition": ""}
    if hdr.subjectInformation is not None and hdr.subjectInformation.patientID:
        attrs["patient_id"] = str(hdr.subjectInformation.patientID)
    if hdr.measurementInformation is not None and hdr.measurementInformation.protocolName:
        attrs["acquisition"] = str(hdr.measurementInformation.protocolName)
    return RawScan(kspace=k, mask=mask, header_xml=xml, recon_size=(enc.reconSpace.matrixSize.x, enc.reconSpace.matrixSize.y),
                   noise=np.concatenate(noise, 1).astype(np.complex64) if noise else None, geometry=geometry,
                   attrs=attrs, source_format="ismrmrd")


# ---------------------------------------------------------------------------------------- twix
def read_twix(path) -> RawScan:
    """Siemens twix (VB or VD/VE): the last measurement of the file is the image scan."""
    import twixtools

    path = Path(path)
    try:
        meas_list = twixtools.read_twix(str(path), verbose=False)
    except Exception as exc:  # twixtools raises several types on bad files
        raise RawDataError(path, f"not a readable Siemens twix file ({type(exc).__name__}: {exc})") from exc
    if not meas_list:
        raise RawDataError(path, "no measurement in the twix file")
    meas = meas_list[-1]
    yaps = meas["hdr"].get("MeasYaps", {})
    ksp = yaps.get("sKSpace", {})
    if int(ksp.get("ucDimension", 2)) != 2:
        raise RawDataError(path, f"sKSpace.ucDimension = {ksp.get('ucDimension')}: only 2-D (multi-slice) data is supported")
    if int(ksp.get("ucTrajectory", 1)) != 1:
        raise RawDataError(path, f"sKSpace.ucTrajectory = {ksp.get('ucTrajectory')}: only Cartesian data is supported")
    noise, entries, centre = [], [], None
    for m in (mdb for ml in meas_list for mdb in ml["mdb"]):
        if m.is_flag_set("NOISEADJSCAN"):
            noise.append(np.asarray(m.data))
    for m in meas["mdb"]:
        if not m.is_image_scan():
            continue
        if m.cPar != 0:
            raise RawDataError(path, "partition counter used: 3-D data is not supported")
        data = np.asarray(m.data)
        if m.is_flag_set("REFLECT"):
            data = data[:, ::-1]
        entries.append((int(m.cSlc), int(m.cLin), data))
        if centre is None:
            centre = int(getattr(m.mdh, "CenterLin", -1))
            centre = None if centre < 0 else centre
    if not entries:
        raise RawDataError(path, "no image-scan readouts")
    n_lines = int(ksp.get("lPhaseEncodingLines", max(ky for _, ky, _ in entries) + 1))
    base = int(ksp.get("lBaseResolution", entries[0][2].shape[1]))
    os_factor = float(meas["hdr"].get("Meas", {}).get("flReadoutOSFactor", 1.0) or 1.0)
    coils, samples = entries[0][2].shape
    centre = n_lines // 2 if centre is None else centre
    n_slices = max(s for s, _, _ in entries) + 1
    k, mask = _place(path, entries, n_slices, coils, samples, n_lines, centre)
    sl = (yaps.get("sSliceArray", {}).get("asSlice") or [{}])[0]
    ro_fov, pe_fov, thick = float(sl.get("dReadoutFOV", 0.0)), float(sl.get("dPhaseFOV", 0.0)), float(sl.get("dThickness", 1.0))
    recon_y = int(round(n_lines * float(ksp.get("dPhaseResolution", 1.0)))) if n_lines else base
    protocol = str(yaps.get("tProtocolName", "") or "") or None
    xml = make_header((samples, n_lines, 1), (base, recon_y, 1), (ro_fov * os_factor, pe_fov, thick),
                      (ro_fov, pe_fov, thick), center=centre, maximum=n_lines - 1, slices=n_slices, protocol=protocol,
                      system=f"Siemens twix ({path.name}) converted by mrirecon")
    geometry = None
    try:
        geos = meas.get("geometry") or []
        slices = []
        for g in geos[:n_slices]:
            rps = np.asarray(g.prs_to_pcs()) @ np.asarray(g.rps_to_prs())  # columns: read, phase, slice in PCS
            slices.append({"position": [float(v) for v in g.offset], "read_dir": [float(v) for v in rps[:, 0]],
                           "phase_dir": [float(v) for v in rps[:, 1]], "slice_dir": [float(v) for v in rps[:, 2]]})
        if len(slices) == n_slices:
            geometry = {"slices": slices, "recon_fov_mm": [ro_fov, pe_fov, thick]}
    except Exception:  # geometry is best effort; the images do not depend on it
        geometry = None
    dicom = meas["hdr"].get("Dicom", {})
    attrs = {"patient_id": str(dicom.get("tPatientName", "") or ""), "acquisition": str(yaps.get("tProtocolName", "") or ""),
             "readout_oversampling": os_factor}
    return RawScan(kspace=k, mask=mask, header_xml=xml, recon_size=(base, recon_y),
                   noise=np.concatenate(noise, 1).astype(np.complex64) if noise else None, geometry=geometry,
                   attrs=attrs, source_format="siemens-twix")


def read_raw(path) -> RawScan:
    """ISMRMRD (``.h5``/``.mrd``) or Siemens twix (``.dat``), by content."""
    path = Path(path)
    if not path.exists():
        raise RawDataError(path, "file not found")
    if path.suffix.lower() == ".dat":
        return read_twix(path)
    if is_ismrmrd(path):
        return read_ismrmrd(path)
    raise RawDataError(path, "neither an ISMRMRD dataset (/dataset/xml) nor a Siemens twix .dat file")
