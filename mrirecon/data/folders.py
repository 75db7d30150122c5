"""fastMRI-layout folders as training data: a lazy slice index with a metadata cache.

``SliceIndex(root, challenge)`` lists every ``(file, slice)`` of the ``.h5`` files of a folder (as
fastMRI's ``SliceDataset``) without reading k-space; the per-file metadata (shape, recon size,
target key) is cached in a JSON file outside the data folder so a second run starts at once. Files
that cannot be read are reported once (``failed``) and skipped. ``split_by_volume`` makes a
volume-level train / validation split when no separate validation folder is given.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from mrirecon.io.fastmri import FastMRIFile, FastMRIFileError

INPUT_SUFFIXES = (".h5", ".hdf5")


def _default_cache(root: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mrirecon" / "slice_index"
    return base / (hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16] + ".json")


class SliceIndex:
    def __init__(self, root, challenge: str | None = None, cache_file=None, files=None, log=print):
        self.root = Path(root)
        if not self.root.exists():
            raise FileNotFoundError(f"{self.root}: data folder not found")
        if challenge not in (None, "singlecoil", "multicoil"):
            raise ValueError(f"challenge must be singlecoil or multicoil, got {challenge!r}")
        paths = sorted(files) if files is not None else sorted(
            p for p in self.root.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and not p.name.startswith("."))
        cache_file = Path(cache_file) if cache_file else _default_cache(self.root)
        cache = {}
        if cache_file.exists():
            try:
                cache = json.loads(cache_file.read_text())
            except (OSError, ValueError):
                cache = {}
        self.meta, self.failed, changed = {}, {}, False
        for p in paths:
            st = p.stat()
            key = f"{p.name}:{st.st_size}:{int(st.st_mtime)}"
            m = cache.get(key)
            if m is None:
                try:
                    f = FastMRIFile(p)
                    m = {"slices": f.num_slices, "multicoil": f.multicoil, "kspace_shape": list(f.kspace_shape),
                         "recon_size": list(f.recon_size), "target_key": f.target_key}
                except FastMRIFileError as exc:
                    m = {"error": exc.problem}
                cache[key] = m
                changed = True
            if "error" in m:
                self.failed[p.name] = m["error"]
                if log:
                    log(f"warning: {p}: {m['error']} (skipped)")
                continue
            if challenge and m["multicoil"] != (challenge == "multicoil"):
                self.failed[p.name] = f"{'multi' if m['multicoil'] else 'single'}-coil data, challenge {challenge}"
                if log:
                    log(f"warning: {p}: {self.failed[p.name]} (skipped)")
                continue
            self.meta[p] = m
        if changed:
            try:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(cache))
                tmp.replace(cache_file)
            except OSError:
                pass  # a read-only cache location only costs the rescan next time
        self.examples = [(p, i) for p, m in self.meta.items() for i in range(m["slices"])]
        if not self.examples:
            raise ValueError(f"{self.root}: no readable fastMRI files"
                             + (f" for challenge {challenge}" if challenge else "")
                             + (f" ({len(self.failed)} skipped)" if self.failed else ""))

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def files(self) -> list[Path]:
        return list(self.meta)

    def subset(self, files) -> "SliceIndex":
        new = object.__new__(SliceIndex)
        keep = set(files)
        new.root, new.failed = self.root, {}
        new.meta = {p: m for p, m in self.meta.items() if p in keep}
        new.examples = [(p, i) for p, i in self.examples if p in keep]
        return new


def split_by_volume(index: SliceIndex, val_fraction: float = 0.1, seed: int = 0) -> tuple[SliceIndex, SliceIndex]:
    """Volume-level split: whole files go to validation (at least one when there are two or more)."""
    files = index.files
    if len(files) < 2:
        raise ValueError(f"{index.root}: a train/validation split needs at least 2 volumes (pass --val DIR)")
    order = np.random.default_rng(seed).permutation(len(files))
    n_val = min(max(1, int(round(val_fraction * len(files)))), len(files) - 1)
    val = {files[i] for i in order[:n_val]}
    return index.subset([f for f in files if f not in val]), index.subset([f for f in files if f in val])
