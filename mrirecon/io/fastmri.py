"""fastMRI HDF5 files: lazy slice-wise reading, header parsing, atomic writing of reconstructions.

A fastMRI file holds ``kspace`` — ``(slices, H, W)`` single-coil or ``(slices, coils, H, W)``
multi-coil complex — optionally ``mask`` (test / challenge files), the targets
``reconstruction_esc`` (single-coil) / ``reconstruction_rss`` (multi-coil), file attributes
(``max``, ``norm``, ``acquisition``, ``patient_id``, ...) and the ISMRMRD XML header
``ismrmrd_header``, whose encoded / recon matrix sizes and ``kspace_encoding_step_1`` limits give
the k-space padding exactly as fastMRI's ``SliceDataset`` computes it.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import torch

from mrirecon.io.atomic import atomic_path

ISMRMRD_NS = "http://www.ismrm.org/ISMRMRD"


TARGET_KEYS = ("reconstruction_esc", "reconstruction_rss")
#: simulated files (``mrirecon data simulate``, the bundled demo) also carry the target without the noise: the
#: truth a reconstruction estimates. fastMRI's target is made from the noisy k-space, so at low SNR a
#: reconstruction that keeps the sampled lines' noise, which that target shares, scores higher against it.
NOISELESS_KEY = "reconstruction_noiseless"
#: what a reconstruction is scored against: ``file`` fastMRI's target, ``noiseless`` ``NOISELESS_KEY``
REFERENCES = ("file", "noiseless")


def check_reference(reference: str) -> str:
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
    return reference


def target_key_for(multicoil: bool) -> str:
    """fastMRI's target dataset: ``reconstruction_rss`` for multi-coil data, ``reconstruction_esc`` for
    single-coil data — the one place the choice is made."""
    return "reconstruction_rss" if multicoil else "reconstruction_esc"


def choose_target_key(keys, multicoil: bool | None = None, challenge: str | None = None) -> str | None:
    """The target present in ``keys``: the challenge's (``singlecoil`` / ``multicoil``) when given,
    else the one matching the data (``multicoil``), else whichever exists; None when there is none."""
    if challenge is not None:
        key = target_key_for(challenge == "multicoil")
        return key if key in keys else None
    if multicoil is not None and target_key_for(multicoil) in keys:
        return target_key_for(multicoil)
    return next((k for k in ("reconstruction_rss", "reconstruction_esc") if k in keys), None)


class FastMRIFileError(ValueError):
    """A fastMRI file that cannot be used; the message names the file and the problem."""

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


@dataclasses.dataclass
class Header:
    encoding_size: tuple[int, int, int]
    recon_size: tuple[int, int, int]
    encoding_fov_mm: tuple[float, float, float] | None
    recon_fov_mm: tuple[float, float, float] | None
    padding_left: int
    padding_right: int

    def voxel_size_mm(self) -> tuple[float, float, float] | None:
        """(row, column, slice) spacing of the recon grid, from the recon field of view and matrix."""
        if not self.recon_fov_mm:
            return None
        fx, fy, fz = self.recon_fov_mm
        nx, ny, nz = self.recon_size
        return (fx / max(nx, 1), fy / max(ny, 1), fz / max(nz, 1))


def _q(root, path: list[str]) -> str:
    node = root
    for p in path:
        node = node.find(f"{{{ISMRMRD_NS}}}{p}")
        if node is None:
            raise KeyError("/".join(path))
    return node.text


def parse_header(xml: bytes | str) -> Header:
    """Parse the ISMRMRD header the way fastMRI's ``SliceDataset._retrieve_metadata`` does."""
    root = ET.fromstring(xml)
    enc = ["encoding", "encodedSpace", "matrixSize"]
    rec = ["encoding", "reconSpace", "matrixSize"]
    enc_size = tuple(int(_q(root, enc + [a])) for a in "xyz")
    rec_size = tuple(int(_q(root, rec + [a])) for a in "xyz")

    def fov(space):
        try:
            return tuple(float(_q(root, ["encoding", space, "fieldOfView_mm", a])) for a in "xyz")
        except KeyError:
            return None

    lims = ["encoding", "encodingLimits", "kspace_encoding_step_1"]
    center = int(_q(root, lims + ["center"]))
    maximum = int(_q(root, lims + ["maximum"])) + 1
    padding_left = enc_size[1] // 2 - center
    return Header(enc_size, rec_size, fov("encodedSpace"), fov("reconSpace"), padding_left, padding_left + maximum)


def make_header(encoding_size, recon_size, encoding_fov_mm, recon_fov_mm, *, center=None, maximum=None,
                system: str = "mrirecon simulation", slices: int | None = None, protocol: str | None = None,
                patient_id: str | None = None, larmor_hz: int = 63_870_000) -> bytes:
    """Build a minimal valid ISMRMRD header (encoded / recon spaces, encoding limits, experimental
    conditions), readable by fastMRI's parser and by ``ismrmrd.xsd``."""
    ex, ey, ez = encoding_size
    center = ey // 2 if center is None else center
    maximum = ey - 1 if maximum is None else maximum

    def space(tag, size, fovmm):
        return (f"<{tag}><matrixSize><x>{size[0]}</x><y>{size[1]}</y><z>{size[2]}</z></matrixSize>"
                f"<fieldOfView_mm><x>{fovmm[0]}</x><y>{fovmm[1]}</y><z>{fovmm[2]}</z></fieldOfView_mm></{tag}>")

    subject = f"<subjectInformation><patientID>{patient_id}</patientID></subjectInformation>" if patient_id else ""
    measurement = (f"<measurementInformation><patientPosition>HFS</patientPosition><protocolName>{protocol}</protocolName>"
                   "</measurementInformation>"
                   if protocol else "")
    slice_lim = (f"<slice><minimum>0</minimum><maximum>{slices - 1}</maximum><center>0</center></slice>"
                 if slices else "")
    xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<ismrmrdHeader xmlns="{ISMRMRD_NS}">{subject}{measurement}'
           f"<acquisitionSystemInformation><systemModel>{system}</systemModel></acquisitionSystemInformation>"
           f"<experimentalConditions><H1resonanceFrequency_Hz>{larmor_hz}</H1resonanceFrequency_Hz>"
           f"</experimentalConditions>"
           f"<encoding>{space('encodedSpace', encoding_size, encoding_fov_mm)}"
           f"{space('reconSpace', recon_size, recon_fov_mm)}"
           f"<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{maximum}</maximum>"
           f"<center>{center}</center></kspace_encoding_step_1>{slice_lim}</encodingLimits>"
           f"<trajectory>cartesian</trajectory></encoding></ismrmrdHeader>")
    return xml.encode()


@dataclasses.dataclass
class KSpaceSlice:
    """One slice: ``kspace`` ``(H, W)`` or ``(coils, H, W)`` complex64, ``mask`` ``(W,)`` or None,
    ``target`` ``(h, w)`` float32 or None, and metadata (file name, slice index, attrs, header)."""

    kspace: torch.Tensor
    mask: torch.Tensor | None
    target: torch.Tensor | None
    fname: str
    slice_index: int
    attrs: dict
    header: Header | None


class FastMRIFile:
    """Lazy reader of one fastMRI HDF5 file. Nothing is read until asked; the file is never modified.

    >>> f = FastMRIFile("file1000001.h5")
    >>> f.num_slices, f.multicoil, f.header.recon_size
    >>> s = f[10]            # KSpaceSlice for slice 10
    """

    TARGET_KEYS = TARGET_KEYS

    def __init__(self, path, check_finite: bool = True):
        self.path = Path(path)
        self.check_finite = check_finite
        if not self.path.exists():
            raise FastMRIFileError(self.path, "file not found")
        try:
            with h5py.File(self.path, "r") as hf:
                keys = set(hf.keys())
                if "kspace" not in keys:
                    raise FastMRIFileError(self.path, f"no 'kspace' dataset (keys: {sorted(keys)})")
                ks = hf["kspace"]
                if not isinstance(ks, h5py.Dataset):
                    raise FastMRIFileError(self.path, "'kspace' is not a dataset (it is an HDF5 group)")
                self.kspace_shape = tuple(ks.shape)
                self.kspace_dtype = ks.dtype
                self.attrs = {k: _attr(v) for k, v in hf.attrs.items()}
                self.keys = keys
                if "mask" in keys and not isinstance(hf["mask"], h5py.Dataset):
                    raise FastMRIFileError(self.path, "'mask' is not a dataset (it is an HDF5 group)")
                self.mask_np = np.asarray(hf["mask"][()]) if "mask" in keys else None
                self.target_shape = {k: tuple(hf[k].shape) for k in self.TARGET_KEYS if k in keys}
                self.has_noise = "noise" in keys and isinstance(hf["noise"], h5py.Dataset)
                header_raw = hf["ismrmrd_header"][()] if "ismrmrd_header" in keys else None
        except FastMRIFileError:
            raise
        except OSError as exc:
            raise FastMRIFileError(self.path, f"not a readable HDF5 file (truncated or corrupt?): {exc}") from exc
        if len(self.kspace_shape) not in (3, 4):
            raise FastMRIFileError(self.path, f"kspace has rank {len(self.kspace_shape)} {self.kspace_shape}; "
                                   "expected (slices, H, W) or (slices, coils, H, W)")
        if not np.issubdtype(self.kspace_dtype, np.complexfloating):
            raise FastMRIFileError(self.path, f"kspace dtype is {self.kspace_dtype}, expected complex64")
        if 0 in self.kspace_shape:
            raise FastMRIFileError(self.path, f"kspace is empty {self.kspace_shape}")
        if self.mask_np is not None:
            if self.mask_np.ndim != 1 or self.mask_np.shape[0] != self.kspace_shape[-1]:
                raise FastMRIFileError(self.path, f"mask of shape {self.mask_np.shape} does not match the k-space "
                                       f"width {self.kspace_shape[-1]}")
        self.header = None
        if header_raw is not None:
            try:
                self.header = parse_header(header_raw)
            except (ET.ParseError, KeyError, ValueError, TypeError) as exc:
                raise FastMRIFileError(self.path, f"unreadable ismrmrd_header ({type(exc).__name__}: {exc})") from exc
        for k, shp in self.target_shape.items():
            if shp[0] != self.kspace_shape[0]:
                raise FastMRIFileError(self.path, f"{k} has {shp[0]} slices but kspace has {self.kspace_shape[0]}")

    # --- properties ---
    @property
    def num_slices(self) -> int:
        return self.kspace_shape[0]

    @property
    def multicoil(self) -> bool:
        return len(self.kspace_shape) == 4

    @property
    def num_coils(self) -> int:
        return self.kspace_shape[1] if self.multicoil else 1

    @property
    def target_key(self) -> str | None:
        return choose_target_key(self.target_shape, self.multicoil)

    @property
    def recon_size(self) -> tuple[int, int]:
        if self.target_key:
            return self.target_shape[self.target_key][-2:]
        if self.header:
            return (self.header.recon_size[0], self.header.recon_size[1])
        return tuple(self.kspace_shape[-2:])

    @property
    def mask(self) -> torch.Tensor | None:
        return None if self.mask_np is None else torch.from_numpy(self.mask_np.astype(np.float32))

    def __len__(self):
        return self.num_slices

    def read_kspace(self, index) -> torch.Tensor:
        """k-space of one slice (int) or a range (slice) as complex64 torch tensor."""
        with h5py.File(self.path, "r") as hf:
            try:
                arr = np.asarray(hf["kspace"][index]).astype(np.complex64)
            except OSError as exc:
                raise FastMRIFileError(self.path, f"could not read kspace[{index}] (truncated?): {exc}") from exc
        if self.check_finite and not np.isfinite(arr).all():
            raise FastMRIFileError(self.path, f"kspace[{index}] contains NaN or Inf values")
        return torch.from_numpy(arr)

    def read_noise(self) -> torch.Tensor | None:
        """Noise-scan samples ``(coils, n)`` complex64 (``mrirecon data convert`` keeps them), or None."""
        if not self.has_noise:
            return None
        with h5py.File(self.path, "r") as hf:
            arr = np.asarray(hf["noise"][()]).astype(np.complex64)
        return torch.from_numpy(arr.reshape(arr.shape[0], -1) if arr.ndim > 1 else arr[None])

    def read_target(self, index, key: str | None = None) -> torch.Tensor | None:
        key = key or self.target_key
        if key is None:
            return None
        with h5py.File(self.path, "r") as hf:
            return torch.from_numpy(np.asarray(hf[key][index]).astype(np.float32))

    def __getitem__(self, i: int) -> KSpaceSlice:
        if not -self.num_slices <= i < self.num_slices:
            raise IndexError(f"{self.path}: slice {i} out of range (0..{self.num_slices - 1})")
        i = i % self.num_slices
        return KSpaceSlice(self.read_kspace(i), self.mask, self.read_target(i), self.path.name, i,
                           dict(self.attrs), self.header)

    def volume_target(self, reference: str = "file") -> np.ndarray | None:
        """The target volume: ``reference="file"`` fastMRI's (``target_key``), ``"noiseless"`` a simulation's
        target without the noise (``NOISELESS_KEY``); None where the file has none."""
        key = self.target_key if check_reference(reference) == "file" else (NOISELESS_KEY if NOISELESS_KEY in self.keys else None)
        if key is None:
            return None
        with h5py.File(self.path, "r") as hf:
            vol = np.asarray(hf[key][()]).astype(np.float32)
        if vol.shape[0] != self.num_slices:
            raise FastMRIFileError(self.path, f"{key} has {vol.shape[0]} slices but kspace has {self.num_slices}")
        return vol


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_reconstruction(path, volume, mask=None, std=None, **attrs) -> Path:
    """Write the fastMRI submission format atomically: ``reconstruction`` float32 ``(slices, H, W)``.

    Optional ``mask`` (the sampling mask used) and ``std`` (per-pixel standard deviation over
    samples) datasets; ``attrs`` become file attributes.
    """
    path = Path(path)
    vol = np.asarray(volume.detach().cpu() if torch.is_tensor(volume) else volume, dtype=np.float32)
    if vol.ndim != 3:
        raise ValueError(f"{path}: reconstruction must be (slices, H, W), got shape {vol.shape}")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.create_dataset("reconstruction", data=vol)
            if mask is not None:
                hf.create_dataset("mask", data=np.asarray(mask.cpu() if torch.is_tensor(mask) else mask, np.float32))
            if std is not None:
                hf.create_dataset("std", data=np.asarray(std.cpu() if torch.is_tensor(std) else std, np.float32))
            for k, v in attrs.items():
                hf.attrs[k] = v
    return path


def write_fastmri_file(path, kspace, *, target=None, target_key=None, header: bytes | None = None,
                       attrs: dict | None = None, mask=None, noiseless=None) -> Path:
    """Write a fastMRI-layout k-space file (used by the simulator and the tests), atomically; ``noiseless``:
    a simulation's target without the noise (``NOISELESS_KEY``)."""
    path = Path(path)
    ks = np.asarray(kspace, dtype=np.complex64)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as hf:
            hf.create_dataset("kspace", data=ks)
            if target is not None:
                key = target_key or target_key_for(ks.ndim == 4)
                hf.create_dataset(key, data=np.asarray(target, np.float32))
            if header is not None:
                hf.create_dataset("ismrmrd_header", data=header)
            if mask is not None:
                hf.create_dataset("mask", data=np.asarray(mask, dtype=bool))
            if noiseless is not None:
                hf.create_dataset(NOISELESS_KEY, data=np.asarray(noiseless, np.float32))
            for k, v in (attrs or {}).items():
                hf.attrs[k] = v
    return path
