"""CCDF restarts at 20 NFE (issue 21): CCDF run again from its own result at a smaller t0, against plain
CCDF-20, on the peers benchmark's single-coil cell (8 Colin27 slices × 2 noise seeds, fastMRI random
masks by file name; ``bench_peers.make_cell``). Prints PSNR / SSIM per variant (docs/benchmarks.md,
"CCDF at 20 NFE, R=4: what else was tried").

    python benchmarks/bench_ccdf_restart.py [--R 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: name -> stages (t0, steps); each stage starts from the previous stage's result (the first from the U-Net)
VARIANTS = {
    "t0 0.1 x 20": [(0.1, 20)],
    "0.1 x 10, then 0.05 x 10": [(0.1, 10), (0.05, 10)],
    "0.1 x 10, then 0.03 x 10": [(0.1, 10), (0.03, 10)],
    "0.1 x 14, then 0.05 x 7": [(0.1, 14), (0.05, 7)],
    "0.15 x 10, then 0.07 x 10": [(0.15, 10), (0.07, 10)],
    "0.1 / 0.06 / 0.03 x 7": [(0.1, 7), (0.06, 7), (0.03, 7)],
}


def run(items, net, prior, stages, seed):
    from bench_peers import score
    from mrirecon.diffusion.schedule import item_generators
    from mrirecon.recon import ccdf

    out = []
    for i, it in enumerate(items):
        x = net
        for j, (t0, steps) in enumerate(stages):
            g = item_generators(seed + i + 7919 * j, 1, torch.device("cpu"))
            x = ccdf.solve(it["op"], it["y"], prior, init=x, generator=g,
                           options=ccdf.CCDFOptions(t0=t0, steps=steps)).image
        out.append(x[0].numpy())
    return score(items, out)


def main():
    from bench_peers import make_cell
    from mrirecon.diffusion.prior import DiffusionPrior
    from mrirecon.models import load_model
    from mrirecon.resources import weights_dir

    p = argparse.ArgumentParser()
    p.add_argument("--R", type=int, default=4)
    p.add_argument("--data", default="data/prepared")
    p.add_argument("--seeds", default="2000,3000")
    a = p.parse_args()
    torch.set_num_threads(1)
    net, prior = load_model(weights_dir("unet")), DiffusionPrior.load(weights_dir("prior"))
    items = make_cell(a.data, 8, 1, a.R, 30.0)
    seeds = [int(s) for s in a.seeds.split(",")]
    for name, stages in VARIANTS.items():
        t = time.time()
        r = [run(items, net, prior, stages, s) for s in seeds]
        print(f"{name} (NFE {sum(s for _, s in stages)}): PSNR {np.mean([v[0] for v in r]):.3f} "
              f"SSIM {np.mean([v[1] for v in r]):.4f} per seed {[v[0] for v in r]} ({time.time() - t:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
