"""Batch reconstruction: every file of a folder (this rank's share) through ``engine.reconstruct_file``.

What a hospital engineer can rely on:

* inputs are never written: an output folder equal to (or inside) the input folder is refused before
  anything is touched;
* outputs are atomic (temp file, fsync, rename) with the umask's permissions; each carries its
  provenance (method, options, mask, seed, weight hashes, versions);
* resume skips only complete outputs made with the same configuration; an output made with other
  settings is reported (``--overwrite`` redoes it), an incomplete / unreadable one is redone;
* a failing file is recorded (``failures.json``) and the batch goes on; ``run_config.json``,
  ``timings.json`` and ``failures.json`` accumulate over runs; a lock refuses a second concurrent
  run into the same folder; SIGINT / SIGTERM still write the summary files.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import time
import traceback
from pathlib import Path

import h5py
import numpy as np
import torch

from mrirecon.device import resolve_device
from mrirecon.io import FastMRIFile, FastMRIFileError, atomic_path
from mrirecon.pipeline.config import ReconConfig
from mrirecon.pipeline.engine import reconstruct_file

INPUT_SUFFIXES = (".h5", ".hdf5")
LOCK_NAME = ".mrirecon.lock"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the summary files are written on the way out (exit 143)."""


#: SIGTERM while a finished file's outputs are being written and recorded waits until its record is kept
_HOLD = {"on": False, "pending": False}


def install_signal_handlers() -> None:
    def on_term(signum, frame):
        if _HOLD["on"]:
            _HOLD["pending"] = True
            return
        raise Terminated()

    with contextlib.suppress(ValueError):  # only possible in the main thread
        signal.signal(signal.SIGTERM, on_term)


def _hold_termination() -> None:
    """From here on, SIGTERM waits (``_release_termination``): the file's outputs are being written."""
    _HOLD["on"] = True


def _release_termination() -> None:
    """End the hold; a SIGTERM that came during it is raised now, after the file's record was kept."""
    pending = _HOLD["pending"]
    _HOLD.update(on=False, pending=False)
    if pending:
        raise Terminated()


def list_inputs(inp: Path) -> list[Path]:
    """``.h5`` / ``.H5`` / ``.hdf5`` files of a folder (sorted), or the one file given."""
    inp = Path(inp)
    try:
        inp.stat()
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            raise FileNotFoundError(f"{inp}: symbolic link loop") from exc
        raise FileNotFoundError(f"{inp}: input not found") from exc
    if inp.is_dir():
        return sorted(p for p in inp.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and not p.name.startswith("."))
    return [inp]


def check_output_location(inp: Path, out_dir: Path) -> None:
    """Refuse an output folder that is the input folder, inside it, or the folder of an input file."""
    src = Path(inp).resolve()
    src_dir = src if src.is_dir() else src.parent
    dst = Path(out_dir).resolve()
    if dst == src_dir or src_dir in dst.parents:
        raise ValueError(f"output folder {out_dir} is {'the input folder' if dst == src_dir else 'inside the input folder'} "
                         f"{src_dir}: inputs are never written; choose another output folder")
    if dst.exists() and not dst.is_dir():
        raise ValueError(f"output path {out_dir} exists and is not a folder")


@contextlib.contextmanager
def output_lock(out_dir: Path, enabled: bool = True):
    """An exclusive lock file in the output folder; a second run into it is refused (a lock left by a
    dead process on this host is taken over)."""
    if not enabled:
        yield
        return
    lock = Path(out_dir) / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                other = json.loads(lock.read_text() or "{}")
            except (OSError, ValueError):
                other = {}
            alive = other.get("host") == me["host"] and _pid_alive(int(other.get("pid", -1)))
            if alive or other.get("host") not in (None, me["host"]):
                raise ValueError(f"{out_dir}: another run (pid {other.get('pid')} on {other.get('host')}) is writing "
                                 f"to this folder; wait for it or remove {lock} if it is gone") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def provenance(cfg: ReconConfig, solver) -> dict:
    """What made an output: compared on resume (``resume_key``) and stored in each output file."""
    info = getattr(solver, "info", {})
    return {"method": cfg.method, "options": info.get("options", cfg.options), "mask_type": cfg.mask_type,
            "accelerations": list(cfg.accelerations), "center_fractions": list(cfg.center_fractions),
            "use_file_mask": cfg.use_file_mask, "seed": cfg.seed, "challenge": cfg.challenge,
            "weights_sha256": info.get("weights_sha256"), "unet_weights_sha256": info.get("unet_weights_sha256"),
            "versions": versions()}


def resume_key(prov: dict) -> str:
    return json.dumps({k: v for k, v in prov.items() if k != "versions"}, sort_keys=True, default=str)


def existing_output(out: Path, key: str) -> str:
    """``"missing"``, ``"same"`` (complete, made with this configuration), ``"other"`` (complete, other
    settings) or ``"incomplete"`` (empty, unreadable, or without a finite reconstruction)."""
    if not out.exists():
        return "missing"
    try:
        with h5py.File(out, "r") as hf:
            rec = hf["reconstruction"][()]
            prov = hf.attrs.get("provenance")
        if rec.size == 0 or not np.isfinite(rec).all():
            return "incomplete"
    except (OSError, KeyError):
        return "incomplete"
    if prov is None:
        return "other"
    prov = prov.decode() if isinstance(prov, bytes) else prov
    return "same" if resume_key(json.loads(prov)) == key else "other"


def _append_json(path: Path, entries: list, replace_files: set | None = None) -> None:
    old = []
    if path.exists():
        with contextlib.suppress(OSError, ValueError):
            old = json.loads(path.read_text())
            old = old if isinstance(old, list) else []
    if replace_files:
        old = [e for e in old if e.get("file") not in replace_files]
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(old + entries, indent=2, default=str))


def _annotate_run(path: Path, run_id: str, extra: dict) -> None:
    """Add facts learnt during the run (e.g. each file's noise σ) to its record in run_config.json."""
    with contextlib.suppress(OSError, ValueError):
        runs = json.loads(path.read_text())
        for r in runs:
            if r.get("started") == run_id:
                r.update(extra)
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(runs, indent=2, default=str))


def run_batch(inp: Path, out_dir: Path, solver, cfg: ReconConfig, *, rank: int = 0, world: int = 1,
              log=None) -> dict:
    """Reconstruct every file of ``inp`` (this rank's share), skipping finished outputs.

    Returns ``{"done": [...], "skipped": [...], "failed": [...]}``; failures are also recorded in
    ``failures[.rankN].json`` in ``out_dir``.
    """
    import sys

    from tqdm import tqdm

    log = log or (lambda msg: print(msg, file=sys.stderr))
    out_dir = Path(out_dir)
    check_output_location(inp, out_dir)
    files = list_inputs(inp)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the output folder {out_dir}: {exc.strerror}") from exc
    if not os.access(out_dir, os.W_OK):
        raise ValueError(f"output folder {out_dir} is not writable")
    mine = files[rank::world]
    device = resolve_device(cfg.device)
    prov = provenance(cfg, solver)
    key = resume_key(prov)
    run_id = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    result = {"done": [], "skipped": [], "failed": []}
    with output_lock(out_dir, enabled=world == 1):
        for stale in out_dir.glob(".*.tmp"):  # temp files of a run that was killed mid-write
            if world == 1 or any(stale.name.startswith(f".{p.name}.") for p in mine):
                stale.unlink(missing_ok=True)
        if rank == 0:
            run = {"started": run_id, "config": cfg.to_dict(), "versions": versions(), "inputs": [p.name for p in files],
                   "world_size": world, **getattr(solver, "info", {})}
            _append_json(out_dir / "run_config.json", [run])
        fbar = tqdm(mine, desc=f"files[{rank}]" if world > 1 else "files", unit="file", position=0, dynamic_ncols=True)
        try:
            for path in fbar:
                out = out_dir / path.name
                state = existing_output(out, key)
                if state == "same" and not cfg.overwrite:
                    result["skipped"].append(path.name)
                    continue
                if state == "other" and not cfg.overwrite:
                    msg = (f"{path}: {out} exists, made with other settings (method, options, mask, seed or "
                           "weights); use --overwrite to redo it or choose another output folder")
                    log(f"error: {msg}")
                    result["failed"].append({"file": path.name, "error": msg, "run": run_id})
                    continue
                if state == "incomplete":
                    log(f"note: {out} is incomplete; reconstructing it again")
                try:
                    f = FastMRIFile(path)
                    with tqdm(total=f.num_slices, desc=path.name, unit="slice", leave=False, position=1,
                              dynamic_ncols=True) as sbar:
                        # a SIGTERM between the output's rename and its record would leave a finished file
                        # unrecorded: from its first write until the record is kept, it waits
                        rec = reconstruct_file(path, out_dir, solver, cfg, device, slice_progress=sbar.update, f=f,
                                               provenance=prov, before_write=_hold_termination)
                    result["done"].append({**rec, "run": run_id})
                    _release_termination()
                except (KeyboardInterrupt, MemoryError):
                    _HOLD.update(on=False, pending=False)  # stopping anyway: nothing held any more
                    raise
                except Exception as exc:  # a bad file never stops the batch
                    msg = str(exc) if isinstance(exc, FastMRIFileError) else f"{path}: {type(exc).__name__}: {exc}"
                    log(f"error: {msg}")
                    result["failed"].append({"file": path.name, "error": msg, "run": run_id,
                                             "traceback": traceback.format_exc(limit=3)})
                    _release_termination()  # a SIGTERM held while the failed file's outputs were written
        finally:
            suffix = "" if world == 1 else f".rank{rank}"
            if world == 1:
                _append_json(out_dir / "failures.json", result["failed"])
            else:
                with atomic_path(out_dir / f"failures{suffix}.json") as tmp:
                    Path(tmp).write_text(json.dumps(result["failed"], indent=2))
            _append_json(out_dir / f"timings{suffix}.json", result["done"], {d["file"] for d in result["done"]})
            if rank == 0 and world == 1:
                _annotate_run(out_dir / "run_config.json", run_id,
                              {"noise_sigma": {d["file"]: d.get("noise_sigma_mean") for d in result["done"]}})
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
