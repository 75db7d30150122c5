"""Super-resolution of real volumes (issue 19): in-plane ×2 / ×4 and through-plane ×4 / ×5 on the
Colin27 volume (the validation volume — never in any training split) and a remapped T2-like copy of it.

    python benchmarks/bench_sr_volume.py --out bench_out/sr_volume.json [--methods "bicubic;ccdf:;red-diff:steps=100"]
    (a method's ``weights=<folder>`` / ``unet_weights=<folder>`` pick networks other than the shipped ones,
    e.g. ``"unet:weights=checkpoints/srnet/best;ccdf:init=unet,unet_weights=checkpoints/srnet/best"``;
    ``adapt_steps=N`` sets through-plane self-adaptation, ``pipeline.sr.ADAPT_STEPS`` by default, 0 = off)
    python benchmarks/bench_sr_volume.py --table bench_out/sr_volume.json

* in-plane: ``--slices`` axial 128² slices of ``data/prepared/val_128.npz`` (Colin27), degraded with
  ``--degradation`` (box by default) by ×2 / ×4, super-resolved slice by slice;
* through-plane: a ``--block`` (X, Y) × 100-slice block of Colin27 at 1 mm (from the cached source),
  the slice axis block-averaged ×4 / ×5 (4–5 mm slices), super-resolved with
  ``pipeline.sr.super_resolve_volume`` (both plane sets, fused) — the ``mrirecon sr --axis slice`` path.

PSNR / SSIM (fastMRI definitions over the volume's slices, data range = the HR maximum), seconds,
and a PNG per setting (LR / cubic / best / HR / |error|) under ``--figs``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def t2like(vol: np.ndarray) -> np.ndarray:
    """The non-monotone remap bench_robust.py uses (dark white matter, bright CSF / grey matter)."""
    mx = float(vol.max()) or 1.0
    u = vol / mx
    return (np.where(u > 0.08, 0.25 + 0.75 * np.exp(-((u - 0.35) / 0.25) ** 2), 0.0) * mx).astype(np.float32)


def colin_block(block: int, nz: int = 100) -> np.ndarray:
    from mrirecon.data.prepare import normalise_volume
    from mrirecon.data.sources import SOURCES, load_volume

    src = next(s for s in SOURCES if s.name == "colin27")
    vol, _, _ = load_volume(src, Path("cache/sources"))
    vol = normalise_volume(vol)
    cx, cy, cz = (s // 2 for s in vol.shape)
    return np.ascontiguousarray(vol[cx - block // 2:cx + block // 2, cy - block // 2:cy + block // 2,
                                    cz - nz // 2 + 10:cz + nz // 2 + 10]).astype(np.float32)


def score(hr: np.ndarray, sr: np.ndarray) -> tuple[float, float]:
    from mrirecon.eval.metrics import evaluate_volume

    m = evaluate_volume(hr, np.clip(sr, 0, None))
    return round(float(m["PSNR"]), 3), round(float(m["SSIM"]), 4)


def figure(path: Path, lr_up, cubic, best, hr, title: str, transpose: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("LR (nearest)", lr_up), ("cubic", cubic), ("best SR", best), ("HR", hr), ("|SR − HR| ×4", np.abs(best - hr) * 4)]
    fig, axs = plt.subplots(1, 5, figsize=(15, 3.4))
    vmax = float(hr.max())
    for ax, (name, im) in zip(axs, panels):
        ax.imshow(im.T[::-1] if transpose else im, cmap="gray", vmin=0, vmax=vmax)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    from mrirecon.data.prepare import load_split
    from mrirecon.physics.sr import Degrade
    from mrirecon.pipeline.solvers import build_solver
    from mrirecon.pipeline.sr import super_resolve, super_resolve_volume
    from mrirecon.recon.options import parse_assignments

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--methods", default="bicubic;ccdf:;red-diff:steps=100")
    p.add_argument("--slices", type=int, default=8)
    p.add_argument("--block", type=int, default=48)
    p.add_argument("--inplane", default="2,4")
    p.add_argument("--through", default="4,5")
    p.add_argument("--contrasts", default="t1,t2like")
    p.add_argument("--degradation", default="box")
    p.add_argument("--out", default="bench_out/sr_volume.json")
    p.add_argument("--figs", default="docs/figures")
    p.add_argument("--table", nargs="*")
    a = p.parse_args()
    if a.table is not None:
        rows = [r for f in a.table for r in json.loads(Path(f).read_text())]
        print("| direction | contrast | factor | method | PSNR | SSIM | cubic PSNR | gain | s |\n|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['direction']} | {r['contrast']} | ×{r['factor']} | {r['method']} | {r['psnr']:.2f} | "
                  f"{r['ssim']:.3f} | {r['cubic_psnr']:.2f} | {r['psnr'] - r['cubic_psnr']:+.2f} | {r['seconds']} |")
        return
    torch.set_num_threads(max(1, torch.get_num_threads()))
    imgs = load_split("data/prepared", "val", 128, orientation="axial")
    sl = imgs[np.linspace(len(imgs) * 0.3, len(imgs) * 0.8, a.slices).astype(int)].astype(np.float32)
    block = colin_block(a.block)
    methods = [m for m in a.methods.split(";") if m]
    rows = []
    for contrast in a.contrasts.split(","):
        hr2d = sl if contrast == "t1" else t2like(sl)
        hr3d = block if contrast == "t1" else t2like(block)
        settings = [("in-plane", int(f)) for f in a.inplane.split(",") if f] + \
                   [("through-plane", int(f)) for f in a.through.split(",") if f]
        for direction, f in settings:
            if direction == "in-plane":
                op = Degrade(f, a.degradation)
                hr = hr2d
                lr = op.forward(torch.from_numpy(hr)).numpy()
            else:
                op = Degrade((1, f), a.degradation)
                hr = hr3d
                lr = op.forward(torch.from_numpy(hr)).numpy()  # (X, Y, Z/f): planes along X, Z degraded
            results = {}
            for spec in methods:
                name, _, kv = spec.partition(":")
                opts = parse_assignments(kv)
                nets = {k: opts.pop(k) for k in ("weights", "unet_weights") if k in opts}  # network folders
                adapt = {"adapt_steps": int(opts.pop("adapt_steps"))} if "adapt_steps" in opts else {}
                solver = build_solver(name, opts, task="sr", device="cpu", **nets)
                t0 = time.time()
                if direction == "in-plane":
                    sr = super_resolve(lr, f, name, solver=solver, degradation=a.degradation)
                    ev_hr, ev_sr = hr, sr
                else:
                    sr = super_resolve_volume(lr, (1, 1, f), name, solver=solver, degradation=a.degradation, **adapt)
                    ev_hr, ev_sr = np.moveaxis(hr, 1, 0), np.moveaxis(sr, 1, 0)  # score coronal (X, Z) planes
                secs = round(time.time() - t0, 1)
                psnr, ssim = score(ev_hr, ev_sr)
                results[spec] = (psnr, ev_sr)
                rows.append({"direction": direction, "contrast": contrast, "factor": f, "method": spec,
                             "degradation": a.degradation, "psnr": psnr, "ssim": ssim, "seconds": secs})
                print(json.dumps(rows[-1]), flush=True)
            cubic = next((v for k, v in results.items() if k.startswith("bicubic")), None)
            for r in rows:
                if (r["direction"], r["contrast"], r["factor"]) == (direction, contrast, f):
                    r["cubic_psnr"] = cubic[0] if cubic else float("nan")
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text(json.dumps(rows, indent=1))
            if cubic:
                best_key = max(results, key=lambda k: results[k][0])
                i = len(ev_hr) // 2
                near = np.repeat(lr, f, -1) if direction == "through-plane" else np.repeat(np.repeat(lr, f, -1), f, -2)
                near = np.moveaxis(near, 1, 0) if direction == "through-plane" else near
                figure(Path(a.figs) / f"sr_{direction}_{contrast}_x{f}.png", near[i], cubic[1][i], results[best_key][1][i],
                       ev_hr[i], f"{direction} x{f}, {contrast}: cubic {cubic[0]:.2f} dB, {best_key} {results[best_key][0]:.2f} dB",
                       transpose=direction == "through-plane")


if __name__ == "__main__":
    main()
