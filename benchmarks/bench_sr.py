"""Super-resolution benchmark: ×2 / ×4 on validation slices (Colin27, 128²), bicubic vs CCDF-SR and
RED-diff-SR (unconditional prior + Downsample operator, the MRI solver code) and SR3 when weights
exist. PSNR / SSIM (fastMRI definitions on the magnitude volume), NFE, seconds per slice, PNG grid.

    python benchmarks/bench_sr.py --n 8 --scales 2,4 --out bench_out/sr [--sr3 checkpoints/sr3/model]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from mrirecon.diffusion.schedule import VPSchedule
from mrirecon.eval.metrics import evaluate_volume
from mrirecon.physics import Downsample
from mrirecon.pipeline.sr import super_resolve
from mrirecon.recon import registry
from mrirecon.recon.ccdf import nfe as ccdf_nfe
from mrirecon.recon.options import parse_assignments


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/prepared")
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--scales", default="2,4")
    p.add_argument("--configs", default="bicubic;ccdf:t0=0.2,steps=20;ccdf:t0=0.1,steps=10;red-diff:steps=50")
    p.add_argument("--sr3", default=None, help="SR3 weights folder (adds sr3 full and accelerated)")
    p.add_argument("--out", default="bench_out/sr")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with np.load(Path(a.data) / "val_128.npz") as z:
        imgs = z["images"][z["orientation"] == "axial"].astype(np.float32)
    hr = imgs[np.linspace(len(imgs) * 0.3, len(imgs) * 0.8, a.n).astype(int)]
    configs = [c for c in a.configs.split(";") if c]
    if a.sr3:
        configs += [f"sr3:steps=100,final_dc=0,weights={a.sr3}", f"sr3:steps=100,weights={a.sr3}",
                    f"sr3:t0=0.3,steps=20,weights={a.sr3}", f"sr3:t0=0.3,steps=20,dc=x0,weights={a.sr3}"]
    rows, grid = [], {}
    for s in (int(x) for x in a.scales.split(",")):
        lr = Downsample(s).forward(torch.from_numpy(hr)).numpy()
        for c in configs:
            method, _, kv = c.partition(":")
            kw = parse_assignments(kv)
            weights = kw.pop("weights", None)
            o = registry.get(method, "sr").make_options(kw)  # the method's SR defaults with these changes
            t = time.time()
            sr = super_resolve(lr, s, method, kw, weights=weights)
            dt = (time.time() - t) / len(hr)
            m = evaluate_volume(hr, sr)
            if method == "bicubic":
                nfe = 0
            elif method == "red-diff":
                nfe = o.steps
            else:  # the sampler's strided timesteps from t0
                nfe = ccdf_nfe(VPSchedule(), float(o.t0), o.steps) * o.n_samples
            rows.append({"scale": s, "method": c, "PSNR": m["PSNR"], "SSIM": m["SSIM"], "NMSE": m["NMSE"], "NFE": nfe,
                         "s_per_slice": dt})
            grid[(s, c)] = sr[len(sr) // 2]
            print(f"x{s} {c}: PSNR {m['PSNR']:.2f} SSIM {m['SSIM']:.4f} NFE {nfe} {dt:.2f} s/slice", flush=True)
            (out / "results.json").write_text(json.dumps(rows, indent=1))
    print("\n| scale | method | NFE | PSNR (dB) | SSIM | s/slice |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| ×{r['scale']} | {r['method']} | {r['NFE']} | {r['PSNR']:.2f} | {r['SSIM']:.4f} | {r['s_per_slice']:.2f} |")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scales = sorted({k[0] for k in grid})
    fig, axes = plt.subplots(len(scales), len(configs) + 1, figsize=(2.3 * (len(configs) + 1), 2.5 * len(scales)),
                             squeeze=False)
    ref = hr[len(hr) // 2]
    for i, s in enumerate(scales):
        axes[i, 0].imshow(ref, cmap="gray", vmin=0, vmax=1)
        axes[i, 0].set_title("HR target", fontsize=7)
        for j, c in enumerate(configs, start=1):
            axes[i, j].imshow(grid[(s, c)], cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_title(f"×{s} {c}"[:40], fontsize=6)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "sr_grid.png", dpi=80)


if __name__ == "__main__":
    main()
