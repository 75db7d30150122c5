"""Shared helpers of the benchmarks: validation files simulated from the held-out volume, and
running labelled method configurations through the same batch code users run."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from mrirecon.data.synth import SimConfig, simulate_dataset
from mrirecon.eval.evaluate import evaluate_dirs
from mrirecon.pipeline import ReconConfig, build_solver
from mrirecon.pipeline.batch import run_batch

ALIASES = {"samples": "n_samples"}

CF = {4: 0.08, 8: 0.04}


def validation_files(root: Path, kind: str, n_files: int, slices: int, data="data/prepared", size=128) -> Path:
    """Simulated fastMRI files from axial validation (Colin27) slices; made once, then reused."""
    out = Path(root) / f"val_{kind}_{n_files}x{slices}"
    if out.exists() and len(list(out.glob("*.h5"))) == n_files:
        return out
    with np.load(Path(data) / f"val_{size}.npz") as z:
        imgs = z["images"][z["orientation"] == "axial"].astype(np.float32)
    lo, hi = int(len(imgs) * 0.25), int(len(imgs) * 0.8)  # skip the skull base and vertex
    cfg = SimConfig(coils=8 if kind == "multicoil" else 1, snr_db=30.0, seed=77)
    simulate_dataset(imgs[lo:hi], out, n_files=n_files, slices_per_file=slices, cfg=cfg, prefix=f"val_{kind}_")
    return out


def make_config(method: str, acc: int, **kw) -> ReconConfig:
    """A ReconConfig for ``method`` at acceleration ``acc``: keys that are ReconConfig fields set it,
    the others (``samples`` meaning ``n_samples``) are the method's options."""
    fields = {f.name for f in dataclasses.fields(ReconConfig)}
    run = {k: v for k, v in kw.items() if k in fields}
    opts = {ALIASES.get(k, k): v for k, v in kw.items() if k not in fields}
    return ReconConfig(method=method, accelerations=(acc,), center_fractions=(CF[acc],), options=opts, **run)


def run_config(label: str, data: Path, out_root: Path, cfg: ReconConfig) -> dict:
    out = Path(out_root) / label.replace(" ", "_").replace("=", "").replace("/", "_")
    solver = build_solver(cfg.method, cfg.options, weights=cfg.weights, unet_weights=cfg.unet_weights,
                          device=cfg.device)
    info = solver.info
    t = time.time()
    res = run_batch(data, out, solver, dataclasses.replace(cfg, overwrite=True), log=lambda m: None)
    wall = time.time() - t
    ev = evaluate_dirs(data, out)
    timings = res["done"]
    n_slices = sum(d["slices"] for d in timings)
    sm = ev["summary"]
    return {"label": label, "method": cfg.method, "R": cfg.accelerations[0], "volumes": len(ev["volumes"]),
            "slices": n_slices, "PSNR": sm["PSNR"]["mean"], "PSNR_std": sm["PSNR"]["std"], "SSIM": sm["SSIM"]["mean"],
            "SSIM_std": sm["SSIM"]["std"], "NMSE": sm["NMSE"]["mean"],
            "s_per_slice": sum(d["seconds"] for d in timings) / max(n_slices, 1), "wall_s": wall,
            "options": info.get("options", {})}


def md_table(rows: list[dict], extra: tuple[str, ...] = ()) -> str:
    head = "| data | R | method | " + "".join(f"{e} | " for e in extra) + "PSNR (dB) | SSIM | NMSE | s/slice |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(f"| {r.get('data', '')} | {r['R']} | {r['label']} | " + "".join(f"{r.get(e, '')} | " for e in extra)
                     + f"{r['PSNR']:.2f} ± {r['PSNR_std']:.2f} | {r['SSIM']:.4f} | {r['NMSE']:.4f} | {r['s_per_slice']:.2f} |")
    return "\n".join(lines)


def save_json(rows, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(rows, indent=1, default=str))
