"""Sweep: reconstruct + evaluate every (method, acceleration) of a folder; CSV/Markdown/plots/HTML."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from mrirecon.pipeline.batch import list_inputs, run_batch
from mrirecon.pipeline.config import ReconConfig
from mrirecon.pipeline.solvers import build_solver

DEFAULT_CF = {2: 0.16, 4: 0.08, 6: 0.06, 8: 0.04, 12: 0.03, 16: 0.02}


def default_center_fractions(accelerations) -> tuple[float, ...]:
    """fastMRI-style centre fraction per acceleration (0.08 at R=4, 0.04 at R=8, ≈0.32/R otherwise)."""
    return tuple(DEFAULT_CF.get(r, round(0.32 / r, 3)) for r in accelerations)


def run_sweep(data, out, methods: list[str], base: ReconConfig, method_options: dict[str, dict] | None = None,
              log=print, reference: str = "file") -> dict:
    """``method_options``: per-method option overrides; ``reference``: score against each file's fastMRI target
    (``file``) or a simulated file's noiseless one (``noiseless``, ``evaluate_dirs``). Returns ``{"rows", "report",
    "failed"}``."""
    import h5py

    from mrirecon.eval.evaluate import evaluate_dirs, metrics_stem
    from mrirecon.eval.report import markdown_table, plot_grid, write_report
    from mrirecon.io import FastMRIFile
    from mrirecon.physics import center_crop

    out = Path(out)
    if reference == "noiseless":  # before any reconstruction: every file must carry the noiseless target
        from mrirecon.io.fastmri import NOISELESS_KEY

        lacking = []
        for f in list_inputs(Path(data)):
            try:
                with h5py.File(f, "r") as hf:
                    if NOISELESS_KEY not in hf:
                        lacking.append(f.name)
            except OSError:
                pass  # unreadable: the batch records it as a failure
        if lacking:
            raise ValueError(f"{data}: --reference noiseless needs {NOISELESS_KEY} (simulated files); missing in "
                             f"{', '.join(lacking[:5])}{' …' if len(lacking) > 5 else ''}")
    stem = metrics_stem(reference)
    cfs = base.center_fractions
    rows, grids, failed = [], {}, 0
    for acc, cf in zip(base.accelerations, cfs):
        slices, first = {}, None
        for m in methods:
            opts = (method_options or {}).get(m, {})
            cfg = dataclasses.replace(base, method=m, options=opts, accelerations=(acc,), center_fractions=(cf,))
            rdir = out / "recons" / f"{m}_R{acc}"
            solver = build_solver(m, opts, weights=cfg.weights, unet_weights=cfg.unet_weights, device=cfg.device)
            res = run_batch(Path(data), rdir, solver, cfg, log=log)
            failed += len(res["failed"])
            ev = evaluate_dirs(data, rdir, out_csv=rdir / f"{stem}.csv", out_json=rdir / f"{stem}.json",
                               reference=reference)
            timings = json.loads((rdir / "timings.json").read_text()) if (rdir / "timings.json").exists() else []
            sps = [t["seconds_per_slice"] for t in timings]
            sm = ev["summary"]
            if not sm:
                continue
            rows.append({"method": m, "acceleration": acc, "center_fraction": cf, "volumes": len(ev["volumes"]),
                         "PSNR": sm["PSNR"]["mean"], "PSNR_std": sm["PSNR"]["std"], "SSIM": sm["SSIM"]["mean"],
                         "SSIM_std": sm["SSIM"]["std"], "NMSE": sm["NMSE"]["mean"],
                         "seconds_per_slice": float(np.mean(sps)) if sps else float("nan")})
            first = ev["volumes"][0]["file"]
            with h5py.File(rdir / first) as hf:
                rec = np.asarray(hf["reconstruction"][()])
            slices[m] = rec[len(rec) // 2]
            log(f"R={acc} {m}: PSNR {sm['PSNR']['mean']:.2f} SSIM {sm['SSIM']['mean']:.4f}")
        if slices:
            tgt = FastMRIFile(Path(data) / first).volume_target(reference)
            t = center_crop(tgt[len(tgt) // 2], next(iter(slices.values())).shape)
            name = f"grid_R{acc}.png"
            grids[name] = plot_grid(t, slices, f"{first}, middle slice, R={acc}", out / name)
    report = write_report(rows, grids, out, meta={"data": str(data), "methods": list(methods),
                                                  "accelerations": list(base.accelerations),
                                                  "center_fractions": list(cfs), "reference": reference})
    log(markdown_table(rows))
    return {"rows": rows, "report": report, "failed": failed}
