"""Batch reconstruction: every file of a folder (this rank's share) through ``engine.reconstruct_file``.

Outputs are written atomically; finished outputs are skipped unless ``overwrite``; a failing file
is recorded in ``failures.json`` and the batch goes on; ``run_config.json`` records the method, its
full options, the versions and the weights' hashes.
"""

from __future__ import annotations

import json
import platform
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from mrirecon.device import resolve_device
from mrirecon.io import FastMRIFile, FastMRIFileError, atomic_path
from mrirecon.pipeline.config import ReconConfig
from mrirecon.pipeline.engine import reconstruct_file


def list_inputs(inp: Path) -> list[Path]:
    inp = Path(inp)
    if inp.is_dir():
        return sorted(p for p in inp.glob("*.h5"))
    if not inp.exists():
        raise FileNotFoundError(f"{inp}: input not found")
    return [inp]


def run_batch(inp: Path, out_dir: Path, solver, cfg: ReconConfig, *, rank: int = 0, world: int = 1,
              log=print) -> dict:
    """Reconstruct every file of ``inp`` (this rank's share), skipping finished outputs.

    Returns ``{"done": [...], "skipped": [...], "failed": [...]}``; failures are also written to
    ``failures[.rankN].json`` in ``out_dir``.
    """
    from tqdm import tqdm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = list_inputs(inp)
    mine = files[rank::world]
    device = resolve_device(cfg.device)
    result = {"done": [], "skipped": [], "failed": []}
    for stale in out_dir.glob(".*.tmp"):  # temp files of a run that was killed mid-write
        if world == 1 or any(stale.name.startswith(f".{p.name}.") for p in mine):
            stale.unlink(missing_ok=True)
    if rank == 0:
        info = {"config": cfg.to_dict(), "versions": versions(), "inputs": [p.name for p in files],
                "world_size": world, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                **getattr(solver, "info", {})}
        with atomic_path(out_dir / "run_config.json") as tmp:
            Path(tmp).write_text(json.dumps(info, indent=2, default=str))
    fbar = tqdm(mine, desc=f"files[{rank}]" if world > 1 else "files", unit="file", position=0, dynamic_ncols=True)
    for path in fbar:
        out = out_dir / path.name
        if out.exists() and not cfg.overwrite:
            result["skipped"].append(path.name)
            continue
        try:
            f = FastMRIFile(path)
            with tqdm(total=f.num_slices, desc=path.name, unit="slice", leave=False, position=1,
                      dynamic_ncols=True) as sbar:
                rec = reconstruct_file(path, out_dir, solver, cfg, device, slice_progress=sbar.update, f=f)
            result["done"].append(rec)
        except Exception as exc:  # a bad file never stops the batch
            msg = str(exc) if isinstance(exc, FastMRIFileError) else f"{path}: {type(exc).__name__}: {exc}"
            log(f"error: {msg}")
            result["failed"].append({"file": path.name, "error": msg, "traceback": traceback.format_exc(limit=3)})
    name = "failures.json" if world == 1 else f"failures.rank{rank}.json"
    with atomic_path(out_dir / name) as tmp:
        Path(tmp).write_text(json.dumps(result["failed"], indent=2))
    with atomic_path(out_dir / ("timings.json" if world == 1 else f"timings.rank{rank}.json")) as tmp:
        Path(tmp).write_text(json.dumps(result["done"], indent=2))
    return result


def versions() -> dict:
    import mrirecon

    v = {"mrirecon": mrirecon.__version__, "torch": torch.__version__, "numpy": np.__version__,
         "python": platform.python_version()}
    try:
        import sigpy

        v["sigpy"] = sigpy.__version__
    except Exception:  # pragma: no cover
        pass
    return v
