"""Dataset layout specs (``data_specs/*.yaml``) and validation of files against them.

Shipped specs live in ``mrirecon/data/specs`` (read with importlib.resources). A spec names the expected k-space rank / dtype (/ coils), targets, optional datasets, required
attributes (and allowed acquisition values) and header fields. ``check_file`` first opens the file
with the same reader the toolkit uses (``FastMRIFile``: rank, dtype, mask width, header parsing),
then applies the spec; every problem names the file.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import yaml

from mrirecon.io.fastmri import FastMRIFile, FastMRIFileError

from mrirecon.resources import spec_dir


def spec_names() -> list[str]:
    """The specs shipped inside the package (``mrirecon/data/specs``; ``data_specs/`` is their copy)."""
    return sorted(p.stem for p in spec_dir().glob("*.yaml"))


def load_spec(name_or_path) -> dict:
    """A shipped spec by name, or a YAML file by path."""
    p = Path(name_or_path)
    if not p.suffix:
        p = spec_dir() / f"{name_or_path}.yaml"
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such spec (known: {', '.join(spec_names())})")
    return yaml.safe_load(p.read_text())


def check_file(path, spec: dict) -> list[str]:
    """Problems of one file against a spec (empty list: the file conforms)."""
    path = Path(path)
    problems: list[str] = []
    try:
        f = FastMRIFile(path)
    except FastMRIFileError as exc:
        return [exc.problem]
    ks = spec.get("kspace", {})
    ranks = ks["rank"] if isinstance(ks.get("rank"), list) else [ks["rank"]] if "rank" in ks else None
    if ranks and len(f.kspace_shape) not in ranks:
        problems.append(f"kspace rank {len(f.kspace_shape)}, spec {spec['name']} expects {' or '.join(map(str, ranks))}")
    if "dtype" in ks and np.dtype(f.kspace_dtype) != np.dtype(ks["dtype"]):
        problems.append(f"kspace dtype {f.kspace_dtype}, expected {ks['dtype']}")
    if "coils" in ks and f.num_coils != ks["coils"]:
        problems.append(f"{f.num_coils} coils, expected {ks['coils']}")
    with h5py.File(path, "r") as hf:
        for key, t in (spec.get("targets") or {}).items():
            if key not in hf:
                if t.get("required"):
                    problems.append(f"missing target dataset '{key}'")
                continue
            if "rank" in t and hf[key].ndim != t["rank"]:
                problems.append(f"{key} rank {hf[key].ndim}, expected {t['rank']}")
            if "dtype" in t and hf[key].dtype != np.dtype(t["dtype"]):
                problems.append(f"{key} dtype {hf[key].dtype}, expected {t['dtype']}")
            if "max" in hf.attrs and abs(float(hf.attrs["max"]) - float(np.max(hf[key][()]))) > 1e-4 * abs(float(hf.attrs["max"])) + 1e-12:
                problems.append(f"attr max {float(hf.attrs['max']):.6g} != max of {key} {float(np.max(hf[key][()])):.6g}")
        known = {"kspace", "ismrmrd_header", *(spec.get("targets") or {}), *(spec.get("optional_datasets") or [])}
        extra = sorted(set(hf.keys()) - known)
        if extra:
            problems.append(f"unexpected datasets {extra}")
    attrs = spec.get("attrs", {})
    for k in attrs.get("required", []):
        if k not in f.attrs:
            problems.append(f"missing attribute '{k}'")
    if attrs.get("acquisition_values") and f.attrs.get("acquisition") not in attrs["acquisition_values"]:
        problems.append(f"acquisition {f.attrs.get('acquisition')!r} not in {attrs['acquisition_values']}")
    hdr = spec.get("header", {})
    if hdr.get("required") and f.header is None:
        problems.append("missing ismrmrd_header")
    if f.header is not None:
        if "encoding_z" in hdr and f.header.encoding_size[2] != hdr["encoding_z"]:
            problems.append(f"header encoding z {f.header.encoding_size[2]}, expected {hdr['encoding_z']}")
        if f.header.encoding_size[1] != f.kspace_shape[-1]:
            problems.append(f"header encoded y {f.header.encoding_size[1]} != k-space width {f.kspace_shape[-1]}")
        if f.header.encoding_size[0] != f.kspace_shape[-2]:
            problems.append(f"header encoded x {f.header.encoding_size[0]} != k-space height {f.kspace_shape[-2]}")
        if not 0 <= f.header.padding_left < f.header.padding_right <= f.kspace_shape[-1]:
            problems.append(f"encoding limits give padding [{f.header.padding_left}, {f.header.padding_right}) "
                            f"outside the k-space width {f.kspace_shape[-1]}")
    return problems


def check_dir(folder, spec_name) -> tuple[bool, str]:
    spec = load_spec(spec_name)
    folder = Path(folder)
    files = sorted(folder.glob("*.h5")) if folder.is_dir() else [folder]
    if not files:
        return False, f"{folder}: no .h5 files"
    lines, bad = [], 0
    for p in files:
        probs = check_file(p, spec)
        if probs:
            bad += 1
            lines += [f"FAIL {p}: {q}" for q in probs]
        else:
            lines.append(f"ok   {p}")
    lines.append(f"{len(files) - bad}/{len(files)} files conform to {spec['name']}")
    return bad == 0, "\n".join(lines)
