"""Real T1-weighted MRI volumes shipped inside installable packages.

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


SOURCES: tuple[Source, ...] = (
    Source(
        "mni152_2009a", "pypi", "nilearn", "0.14.1",
        "nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
        "", "MNI ICBM152 2009a symmetric T1 template, skull-stripped, 1 mm (via nilearn)",
        "MNI ICBM152 licence (free use with attribution: Fonov et al. 2009/2011); nilearn BSD-3",
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


def _read_member(archive: Path, src: Source) -> bytes:
    if src.kind == "pypi":
        with zipfile.ZipFile(archive) as z:
            return z.read(src.member)
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
                member = tf.extractfile(src.member)
                if member is None:
                    raise SourceError(f"{archive}: no {src.member}")
                return member.read()
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
    img = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    img = nib.as_closest_canonical(img)
    vol = np.asarray(img.get_fdata(dtype=np.float32))
    if vol.ndim == 4:
        vol = vol[..., 0]
    prov = {
        "name": src.name, "package": f"{src.package}=={src.version} ({src.kind})",
        "member": src.member, "sha256": digest, "archive_sha256": _sha256(archive.read_bytes()),
        "description": src.description, "licence": src.licence, "shape": list(vol.shape),
        "voxel_size": [float(z) for z in img.header.get_zooms()[:3]],
    }
    return vol, tuple(prov["voxel_size"]), prov
