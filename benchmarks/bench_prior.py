"""Diffusion prior checks: one-step denoising PSNR on whole validation slices at several noise
levels, the denoising curve against training steps (from the checkpoint history), and a PNG of
unconditional samples.

    python benchmarks/bench_prior.py --weights mrirecon/weights/prior --history checkpoints/prior/last/state.json \
        --out bench_out/prior
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from mrirecon.data.prepare import load_split
from mrirecon.diffusion.prior import DiffusionPrior
from mrirecon.diffusion.sampler import reverse_diffusion
from mrirecon.resources import weights_dir
from mrirecon.models.boundary import complex_to_channels
from mrirecon.train.datasets import to_complex_images
from mrirecon.train.objectives import denoise_psnr


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights", default=None, help="prior folder (default: the shipped prior)")
    p.add_argument("--history", default="checkpoints/prior/last/state.json")
    p.add_argument("--data", default="data/prepared")
    p.add_argument("--n", type=int, default=16)
    p.add_argument("--ts", default="10,20,50,100,200,400,700")
    p.add_argument("--samples", type=int, default=4)
    p.add_argument("--sample-steps", type=int, default=50)
    p.add_argument("--out", default="bench_out/prior")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    prior = DiffusionPrior.load(a.weights or weights_dir("prior"))
    val = load_split(a.data, "val")
    idx = np.linspace(len(val) * 0.1, len(val) * 0.9, a.n).astype(int)
    mag = torch.from_numpy(val[idx])
    mag = mag / mag.flatten(1).amax(1)[:, None, None]
    imgs = complex_to_channels(to_complex_images(mag, torch.Generator().manual_seed(0)))
    ts = [int(t) for t in a.ts.split(",")]
    with torch.no_grad():
        res = denoise_psnr(prior.net, prior.schedule, imgs, ts)
    noisy = {t: round(10 * np.log10(1 / ((1 - float(prior.schedule.alpha_bar(t))) / float(prior.schedule.alpha_bar(t)))), 2)
             for t in ts}
    print("| t | σ/α | input PSNR (dB, x_t/√ᾱ) | denoised PSNR (dB) |\n|---|---|---|---|")
    for t in ts:
        print(f"| {t} | {float(prior.schedule.sigma_over_alpha(t)):.3f} | {noisy[t]:.2f} | {res[str(t)]:.2f} |")
    summary = {"whole_slice_denoise_psnr": res, "input_psnr": noisy}
    hist = Path(a.history)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if hist.exists():
        h = [r for r in json.loads(hist.read_text())["history"] if "denoise_psnr" in r]
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for t in h[-1]["denoise_psnr"]:
            ax.plot([r["step"] for r in h], [r["denoise_psnr"][t] for r in h], "o-", label=f"t={t}")
        ax.set_xlabel("training step")
        ax.set_ylabel("one-step denoising PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "denoise_vs_steps.png", dpi=90)
        summary["history"] = h
    if a.samples > 0:
        # unconditional samples (DDIM, eta=1) at 128x128
        g = torch.Generator().manual_seed(0)
        s = prior.schedule
        x = torch.view_as_complex(torch.randn(a.samples, 128, 128, 2, generator=g))
        tsq = s.timesteps(s.T - 1, a.sample_steps)
        x = reverse_diffusion(prior, x, tsq, eta=1.0, generator=g)
        fig, axes = plt.subplots(1, a.samples, figsize=(2.4 * a.samples, 2.6))
        for ax, im in zip(np.atleast_1d(axes), x.abs()):
            ax.imshow(im, cmap="gray", vmin=0, vmax=float(x.abs().max()))
            ax.axis("off")
        fig.suptitle(f"unconditional samples, {a.sample_steps} DDIM steps (η=1)", fontsize=8)
        fig.savefig(out / "prior_samples.png", dpi=80)
    (out / "prior.json").write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
