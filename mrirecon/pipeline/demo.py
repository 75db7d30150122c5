"""The demo: reconstruct the bundled file at R=4 and R=8 with every shipped method; print a table."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from mrirecon.device import resolve_device
from mrirecon.pipeline.config import ReconConfig
from mrirecon.pipeline.engine import reconstruct_file
from mrirecon.pipeline.solvers import build_solver
from mrirecon.resources import demo_file, weights_dir


def default_methods() -> list[str]:
    methods = ["zero-filled", "cs"]
    if (weights_dir("unet") / "config.json").exists():
        methods.append("unet")
        if (weights_dir("prior") / "config.json").exists():
            methods.append("ccdf")
    return methods


def run_demo(path=None, methods=None, accelerations=(4, 8), center_fractions=(0.08, 0.04), device="auto",
             log=print) -> list[dict]:
    from mrirecon.eval.metrics import evaluate_volume
    from mrirecon.io import FastMRIFile

    path = Path(path) if path else demo_file()
    f = FastMRIFile(path)
    target = f.volume_target()
    if target is None:
        raise ValueError(f"{path}: no target to score against (reconstruction_rss / reconstruction_esc)")
    clean = f.volume_target("noiseless")  # simulated files: the truth without the noise
    methods = list(methods) if methods else default_methods()
    log(f"demo file: {path.name}  ({f.num_slices} slices, {f.num_coils} coils, k-space {f.kspace_shape[-2:]})")
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for acc, cf in zip(accelerations, center_fractions):
            for m in methods:
                cfg = ReconConfig(method=m, accelerations=(acc,), center_fractions=(cf,), device=device, seed=0)
                solver = build_solver(m, device=device)
                out = Path(td) / f"R{acc}_{m}"
                out.mkdir()
                t = time.time()
                reconstruct_file(path, out, solver, cfg, resolve_device(device))
                dt = time.time() - t
                with h5py.File(out / path.name) as hf:
                    rec = np.asarray(hf["reconstruction"][()])
                met = evaluate_volume(target, rec)
                row = {"R": acc, "method": m, **met, "s_per_slice": dt / f.num_slices}
                extra = ""
                if clean is not None:
                    mc = evaluate_volume(clean, rec)
                    row.update({"PSNR_noiseless": mc["PSNR"], "SSIM_noiseless": mc["SSIM"]})
                    extra = f"  (noiseless: PSNR {mc['PSNR']:6.2f} dB  SSIM {mc['SSIM']:.4f})"
                rows.append(row)
                log(f"  R={acc:<2d} {m:<12s} PSNR {met['PSNR']:6.2f} dB  SSIM {met['SSIM']:.4f}  "
                    f"NMSE {met['NMSE']:.4f}  {dt / f.num_slices:6.2f} s/slice{extra}")
    log("\n" + "\n".join(demo_table(rows)))
    return rows


def demo_table(rows: list[dict]) -> list[str]:
    """The Markdown table of ``run_demo``'s rows: PSNR / SSIM / NMSE against the file's target, and against
    the noiseless target where the file has one (simulated files)."""
    clean = all("PSNR_noiseless" in r for r in rows) and bool(rows)
    head = "| R | method | PSNR (dB) | SSIM | NMSE |" + (" PSNR, noiseless | SSIM, noiseless |" if clean else "") + " s/slice |"
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cells = [str(r["R"]), r["method"], f"{r['PSNR']:.2f}", f"{r['SSIM']:.4f}", f"{r['NMSE']:.4f}"]
        if clean:
            cells += [f"{r['PSNR_noiseless']:.2f}", f"{r['SSIM_noiseless']:.4f}"]
        out.append("| " + " | ".join(cells + [f"{r['s_per_slice']:.2f}"]) + " |")
    return out
