"""The U-Net's CG-SENSE input weight μ swept on cells of the robustness matrix (docs/benchmarks.md,
"Round 10"): U-Net + validated CG consistency with the input's μ fixed to each value.

    python benchmarks/bench_input_mu.py [--unet <weights>] [--mus 0.001,0.003,0.01,0.03,0.06,0.1,0.15,0.2]
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

CELLS = [(8, 0.8, 20, 4, "equispaced"), (15, 1.5, 20, 4, "random"), (8, 1.5, 20, 8, "equispaced"),
         (8, 1.5, 30, 4, "random"), (15, 0.8, 30, 4, "equispaced"), (8, 0.8, 40, 4, "random"),
         (8, 1.5, 50, 4, "random"), (15, 1.5, 50, 4, "equispaced"), (15, 0.8, 50, 8, "equispaced")]


def main():
    import bench_robust as br
    from mrirecon.models.io import load_model
    from mrirecon.resources import weights_dir

    p = argparse.ArgumentParser()
    p.add_argument("--unet", default=None, help="U-Net weights folder (default: the shipped ones)")
    p.add_argument("--mus", default="0.001,0.003,0.01,0.03,0.06,0.1,0.15,0.2")
    p.add_argument("--data", default="data/prepared")
    a = p.parse_args()
    torch.set_num_threads(1)
    net = load_model(a.unet or weights_dir("unet"))
    mus = [float(m) for m in a.mus.split(",")]
    imgs = br.slices(a.data, 2, "t1")
    print("| SNR | coils | maps r | R | mask | " + " | ".join(f"{m:g}" for m in mus) + " |")
    print("|" + "---|" * (5 + len(mus)))
    for coils, radius, snr, R, mk in CELLS:
        out = []
        for mu in mus:
            fixed = copy.copy(net)
            fixed.meta = copy.deepcopy(net.meta)
            spec = fixed.meta.setdefault("input", {"mode": "sense", "iters": 10})
            spec["mu"] = mu
            spec.pop("sigma_ref", None)  # the input weight exactly mu
            rows, _ = br.run_cell(imgs, coils, radius, snr, R, mk, "unet-cv", (fixed, None), tag=" mu")
            out.append(rows["unet+dc cv mu"]["PSNR"])
        best = max(out)
        print(f"| {snr} | {coils} | {radius} | {R} | {mk} | "
              + " | ".join(f"**{v:.2f}**" if v == best else f"{v:.2f}" for v in out) + " |", flush=True)


if __name__ == "__main__":
    main()
