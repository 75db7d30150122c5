"""Real T1-weighted MRI volumes (and, where shipped, their tissue probability maps) inside installable packages.

Each source names the package (a PyPI wheel or a Debian package), the file inside it, the sha256
of the file, and its licence. ``fetch_sources`` downloads the packages with the ordinary clients
(``pip download --no-deps`` / ``apt-get download``) into a cache folder and reads the volumes out
of the archives; nothing is installed and nothing is fetched from any other website.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "pypi" or "deb"
    package: str
    version: str
    member: str
    sha256: str  # of the extracted .nii.gz member
    description: str
    licence: str
    optional: bool = False
    #: tissue probability maps on the volume's grid, ``((class, member), ...)``: grey / white matter
    #: (CSF is the rest of the object), for SynthSeg-style contrast synthesis (``data.augment``)
    tissue: tuple[tuple[str, str], ...] = ()


SOURCES: tuple[Source, ...] = (
    Source(
        "mni152_2009a", "pypi", "nilearn", "0.14.1",
        "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
        "", "MNI ICBM152 2009a symmetric T1 template, skull-stripped, 1 mm (via nilearn)",
        "MNI ICBM152 licence (free use with attribution: Fonov et al. 2009/2011); nilearn BSD-3",
        tissue=(("gm", "nilearn/datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz"),
                ("wm", "nilearn/datasets/data/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz")),
    ),
    Source(
        "mni152_fsl6", "pypi", "nimare", "0.22.1",
        "nimare/resources/templates/tpl-MNI152NLin6Asym_res-01_T1w.nii.gz",
        "", "FSL MNI152 NLin6Asym T1 template with skull, 1 mm (via NiMARE / TemplateFlow)",
        "FSL MNI152 licence (free for non-commercial and commercial use with attribution); NiMARE MIT",
    ),
    Source(
        "pydeface_mean", "pypi", "pydeface", "2.1.0",
        "pydeface/data/mean_reg2mean.nii.gz",
        "", "Mean T1 head with face (pydeface template)", "pydeface MIT",
    ),
    Source(
        "colin27", "deb", "mricron-data", "1.2.20211006+dfsg-4",
        "./usr/share/mricron/templates/ch2.nii.gz",
        "", "Colin27 single-subject T1 with skull (Holmes et al. 1998), via Debian mricron-data",
        "Colin27: free for research with citation; Debian mricron-data (BSD-like)", optional=True,
    ),
)

# sha256 of the extracted members, measured on the versions pinned above.
_MEMBER_SHA256 = {
    "mni152_2009a": "421a10e872fd6cadae7f61d358dffbcc1795a497d61ee76c5dda2503e1a1e9e6",
    "mni152_fsl6": "fbb6e77a6b090368db105d1cab2c13abd141815998b85c95a520d09771f0021c",
    "pydeface_mean": "fdc13571d66293f9919648cd8de9a7b3491b12175e09336353d2c9ce0466ecb6",
    "colin27": "a009051127f64dc3dd554d5f5b589870ea72106d9642c21b4e7093e478cfc309",
}


# sha256 of the extracted tissue maps (nilearn 0.14.1)
_TISSUE_SHA256 = {
    ("mni152_2009a", "gm"): "97a5ca69bd24db37a9cb7b32525e1733a209af904129bf1cd36da06d24243bed",
    ("mni152_2009a", "wm"): "382d92812de4744f9c86c7a0e4f680dc317a0a50e4da1f0153618a6798c7b7db",
}


class SourceError(RuntimeError):
    pass


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(src: Source, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    if src.kind == "pypi":
        pattern = f"{src.package}-{src.version}-*.whl"
        found = sorted(cache.glob(pattern))
        if not found:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                   f"{src.package}=={src.version}", "-d", str(cache)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            found = sorted(cache.glob(pattern))
    else:
        pattern = f"{src.package}_*.deb"
        found = sorted(cache.glob(pattern))
        if not found:
            subprocess.run(["apt-get", "download", f"{src.package}={src.version}"], cwd=cache,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            found = sorted(cache.glob(pattern))
    if not found:
        raise SourceError(f"{src.name}: download of {src.package}=={src.version} gave no file in {cache}")
    return found[0]


def _read_member(archive: Path, src: Source, member: str | None = None) -> bytes:
    member_name = member or src.member
    if src.kind == "pypi":
        with zipfile.ZipFile(archive) as z:
            return z.read(member_name)
    # .deb: an ar archive holding data.tar.*
    raw = archive.read_bytes()
    if raw[:8] != b"!<arch>\n":
        raise SourceError(f"{archive}: not a Debian package (ar archive)")
    pos = 8
    while pos < len(raw):
        header = raw[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = raw[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tf:
                fh = tf.extractfile(member_name)
                if fh is None:
                    raise SourceError(f"{archive}: no {member_name}")
                return fh.read()
        pos += 60 + size + (size % 2)
    raise SourceError(f"{archive}: no data.tar member")


def load_volume(src: Source, cache: Path) -> tuple[np.ndarray, tuple[float, ...], dict]:
    """Return (volume float32 in RAS+ orientation, voxel sizes, provenance dict)."""
    import nibabel as nib

    cache = Path(cache)
    archive = _download(src, cache)
    data = _read_member(archive, src)
    digest = _sha256(data)
    expected = _MEMBER_SHA256.get(src.name) or src.sha256
    if expected and digest != expected:
        raise SourceError(f"{src.name}: sha256 of {src.member} is {digest}, expected {expected}")
    img, vol = _canonical(data)
    prov = {
        "name": src.name, "package": f"{src.package}=={src.version} ({src.kind})",
        "member": src.member, "sha256": digest, "archive_sha256": _sha256(archive.read_bytes()),
        "description": src.description, "licence": src.licence, "shape": list(vol.shape),
        "voxel_size": [float(z) for z in img.header.get_zooms()[:3]],
    }
    return vol, tuple(prov["voxel_size"]), prov


def _canonical(data: bytes):
    import nibabel as nib

    img = nib.as_closest_canonical(nib.Nifti1Image.from_bytes(gzip.decompress(data)))
    vol = np.asarray(img.get_fdata(dtype=np.float32))
    return img, (vol[..., 0] if vol.ndim == 4 else vol)


def load_tissue(src: Source, cache: Path, shape: tuple[int, ...]) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The source's tissue probability maps (``{class: volume in [0, 1]}``, RAS+ like ``load_volume``)
    and their provenance; ``shape`` is the volume's, which every map must have."""
    archive = _download(src, Path(cache))
    maps, prov = {}, []
    for cls, member in src.tissue:
        data = _read_member(archive, src, member)
        digest = _sha256(data)
        expected = _TISSUE_SHA256.get((src.name, cls))
        if expected and digest != expected:
            raise SourceError(f"{src.name}: sha256 of {member} is {digest}, expected {expected}")
        _, vol = _canonical(data)
        if vol.shape != tuple(shape):
            raise SourceError(f"{src.name}: tissue map {member} has shape {vol.shape}, the volume {tuple(shape)}")
        peak = float(vol.max())
        maps[cls] = np.clip(vol / (255.0 if peak > 1.5 else 1.0), 0.0, 1.0)  # nilearn stores 0..255
        prov.append({"class": cls, "member": member, "sha256": digest})
    return maps, prov
