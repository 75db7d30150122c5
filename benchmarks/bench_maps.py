"""Coil-map estimation on the robustness matrix's multi-coil cells (issue 16, round 14).

    python benchmarks/bench_maps.py [--snr 20,30,40,50] [--out bench_out/maps.json]

For each cell (SNR × coils × coil model × acceleration × mask, 2 Colin27 validation slices, the same
simulation and masks as ``bench_robust.py``) it estimates the maps from the undersampled ACS lines
with ``estimate_maps`` — ``auto`` (ESPIRiT on the ACS lines × the readout, noise-level subspace),
``sigpy`` (sigpy's ESPIRiT, square calibration region; ≥ 8 ACS lines) and ``lowres`` — and reports

* the maps' residual on the noise-free coil images, ‖c − S Sᴴ c‖ / ‖c‖ (0: the maps span them), and
* best-grid CS PSNR with those maps against the noise-free RSS target (λ ∈ 1e-4 … 0.1, as bench_robust.py).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from bench_robust import LAMBDAS, simulate_cell, slices  # benchmarks/ is on the path of a script run from it


def run_cell(images, coils, radius, snr, R, mask_kind, methods):
    from mrirecon.eval.metrics import evaluate_volume
    from mrirecon.physics import MultiCoilMRI
    from mrirecon.physics.coils import estimate_maps, span_residual
    from mrirecon.physics.fft import rss
    from mrirecon.recon import cs

    y, mask, coil_images = simulate_cell(images, coils, radius, snr, R, mask_kind)
    target = rss(coil_images, 1).numpy()
    out = {}
    for method in methods:
        t = time.time()
        try:
            est = [estimate_maps(y[i], mask[0], method=method) for i in range(len(y))]
        except ValueError as e:  # e.g. sigpy's ESPIRiT below 8 ACS lines
            out[method] = {"error": str(e)}
            continue
        maps = torch.stack([m for m, _ in est])
        secs = (time.time() - t) / len(y)
        op = MultiCoilMRI(mask, maps)
        op.with_noise(op.estimate_noise(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            psnr = max(evaluate_volume(target, cs.solve(op, y, options=cs.CSOptions(lamda=lam)).image.abs().numpy())["PSNR"]
                       for lam in LAMBDAS)
        out[method] = {"residual": round(span_residual(maps, coil_images), 4), "cs_psnr": round(psnr, 3),
                       "s_per_slice": round(secs, 3), "used": est[0][1].get("method"), "crop": est[0][1].get("crop")}
    return out


def table(rows: list[dict], methods: list[str]) -> str:
    head = "| SNR | coils | maps r | R | mask | " + " | ".join(f"{m}: residual / CS" for m in methods) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        cells = []
        for m in methods:
            v = r["methods"].get(m, {})
            cells.append("–" if "residual" not in v else f"{v['residual']:.3f} / {v['cs_psnr']:.2f}")
        lines.append(f"| {r['snr']:.0f} | {r['coils']} | {r['radius']} | {r['R']} | {r['mask']} | " + " | ".join(cells) + " |")
    for m in methods:
        ok = [r["methods"][m] for r in rows if "residual" in r["methods"].get(m, {})]
        if ok:
            lines.append(f"| mean ({len(ok)} cells) | | | | | " + " | ".join(
                (f"{np.mean([v['residual'] for v in ok]):.3f} / {np.mean([v['cs_psnr'] for v in ok]):.2f}" if mm == m else "")
                for mm in methods) + " |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="data/prepared")
    p.add_argument("--slices", type=int, default=2)
    p.add_argument("--snr", default="20,30,40,50")
    p.add_argument("--coils", default="8,15")
    p.add_argument("--radii", default="1.5,0.8")
    p.add_argument("--accelerations", default="4,8")
    p.add_argument("--masks", default="random,equispaced")
    p.add_argument("--methods", default="auto,sigpy,lowres")
    p.add_argument("--out", default="bench_out/maps.json")
    p.add_argument("--table", nargs="*", help="print the Markdown table of these result files")
    a = p.parse_args()
    methods = a.methods.split(",")
    if a.table is not None:
        rows = [r for f in (a.table or [a.out]) for r in json.loads(Path(f).read_text())]
        print(table(rows, methods))
        return
    torch.set_num_threads(1)
    images = slices(a.data, a.slices, "t1")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(out.read_text()) if out.exists() else []
    done = {(r["snr"], r["coils"], r["radius"], r["R"], r["mask"]) for r in rows}
    for snr in (float(s) for s in a.snr.split(",")):
        for coils in (int(c) for c in a.coils.split(",")):
            for radius in (float(r) for r in a.radii.split(",")):
                for R in (int(r) for r in a.accelerations.split(",")):
                    for mk in a.masks.split(","):
                        if (snr, coils, radius, R, mk) in done:
                            continue
                        m = run_cell(images, coils, radius, snr, R, mk, methods)
                        rows.append({"snr": snr, "coils": coils, "radius": radius, "R": R, "mask": mk, "methods": m})
                        out.write_text(json.dumps(rows, indent=1))
                        print((snr, coils, radius, R, mk), {k: (v.get("residual"), v.get("cs_psnr")) for k, v in m.items()},
                              flush=True)
    print(table(rows, methods))


if __name__ == "__main__":
    main()
