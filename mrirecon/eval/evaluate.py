"""fastMRI-style evaluation of a folder of reconstructions against a folder of targets.

Per volume: NMSE, PSNR, SSIM (target volume max as data range), the reconstruction centre-cropped
to the target's size; summary: mean ± 2σ over volumes as fastMRI prints it (σ from ``runstats``
semantics: the sample standard deviation).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np

from mrirecon.eval.metrics import evaluate_volume
from mrirecon.io.atomic import atomic_path
from mrirecon.io.fastmri import NOISELESS_KEY, check_reference, choose_target_key
from mrirecon.physics.fft import center_crop


def evaluate_dirs(target_path, predictions_path, challenge: str | None = None, acquisition: str | None = None,
                  out_csv=None, out_json=None, reference: str = "file") -> dict:
    """``reference="file"``: fastMRI's target of each file (from its noisy k-space); ``"noiseless"``: a
    simulated file's target without the noise (``io.fastmri.NOISELESS_KEY``); files without it are listed
    under ``failed`` with the reason."""
    check_reference(reference)
    target_path, predictions_path = Path(target_path), Path(predictions_path)
    rows, missing, failed = [], [], []
    targets = sorted(p for p in target_path.iterdir() if p.suffix.lower() in (".h5", ".hdf5")) \
        if target_path.is_dir() else []
    for tfile in targets:
        pfile = predictions_path / tfile.name
        try:
            with h5py.File(tfile, "r") as hf:
                if acquisition and hf.attrs.get("acquisition") != acquisition:
                    continue
                key = choose_target_key(set(hf.keys()), challenge=challenge)
                if key is None:
                    continue
                if reference == "noiseless":
                    if NOISELESS_KEY not in hf:
                        failed.append({"file": tfile.name, "error": f"{tfile}: no noiseless target ({NOISELESS_KEY}; "
                                       "only simulated files have one)"})
                        continue
                    key = NOISELESS_KEY
                target = np.asarray(hf[key][()], np.float32)
        except OSError as exc:
            failed.append({"file": tfile.name, "error": f"{tfile}: unreadable target file ({exc})"})
            continue
        if not pfile.exists():
            missing.append(tfile.name)
            continue
        try:
            with h5py.File(pfile, "r") as hf:
                recon = np.asarray(hf["reconstruction"][()], np.float32)
        except (OSError, KeyError) as exc:
            failed.append({"file": tfile.name, "error": f"{pfile}: unreadable reconstruction ({exc})"})
            continue
        if recon.shape[0] != target.shape[0]:
            failed.append({"file": tfile.name, "error": f"{pfile}: {recon.shape[0]} slices, the target has {target.shape[0]}"})
            continue
        target = center_crop(target, recon.shape[-2:])
        recon = center_crop(recon, target.shape[-2:])
        rows.append({"file": tfile.name, "slices": len(target), **evaluate_volume(target, recon)})
    summary = {}
    for k in ("NMSE", "PSNR", "SSIM"):
        vals = np.array([r[k] for r in rows])
        if len(vals):
            summary[k] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0}
    result = {"volumes": rows, "summary": summary, "missing": missing, "failed": failed}
    if out_csv:
        with atomic_path(out_csv) as tmp, open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["file", "slices", "NMSE", "PSNR", "SSIM"])
            w.writeheader()
            w.writerows(rows)
    if out_json:
        with atomic_path(out_json) as tmp:
            Path(tmp).write_text(json.dumps(result, indent=2))
    return result


def metrics_stem(reference: str = "file") -> str:
    """The default name of ``evaluate_dirs``' CSV / JSON files for a reference: ``metrics`` or ``metrics_noiseless``."""
    return "metrics" if check_reference(reference) == "file" else "metrics_noiseless"


def format_summary(summary: dict) -> str:
    """fastMRI's print format: ``NMSE = m +/- 2s PSNR = ... SSIM = ...`` (± is two sample standard
    deviations over volumes, as fastMRI prints it)."""
    return " ".join(f"{k} = {v['mean']:.4g} +/- {2 * v['std']:.4g}" for k, v in summary.items()) + \
        "  (± = 2 standard deviations over volumes)"
