"""Validation benchmark: methods × accelerations on simulated single- and multi-coil files.

    python benchmarks/bench_recon.py --methods zero-filled,cs,unet,ccdf --files 4 --slices 4 \
        --out bench_out/recon [--kinds singlecoil,multicoil] [--extra 'ccdf t0=0.05:ccdf:t0=0.05,steps=5']

Prints a Markdown table and writes results.json. ``--extra`` adds labelled configurations
``label:method:key=value,...`` (the method's options — t0, steps, eta, lamda, lr, samples, ... — or
ReconConfig fields such as weights / unet_weights / batch_size).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import md_table, make_config, run_config, save_json, validation_files  # noqa: E402

from mrirecon.recon.options import parse_assignments  # noqa: E402


def parse_extra(spec: str):
    """``label:method:k=v,...`` → (label, method, {key: text}); the text is converted by the method's
    options dataclass (or is a ReconConfig field: weights, unet_weights, batch_size)."""
    label, method, kv = (spec.split(":") + ["", ""])[:3]
    opts = parse_assignments(kv)
    if "batch_size" in opts:
        opts["batch_size"] = int(opts["batch_size"])
    return label, method, opts


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default="zero-filled,cs,unet")
    p.add_argument("--extra", action="append", default=[])
    p.add_argument("--kinds", default="singlecoil,multicoil")
    p.add_argument("--accelerations", default="4,8")
    p.add_argument("--files", type=int, default=4)
    p.add_argument("--slices", type=int, default=4)
    p.add_argument("--data-root", default="bench_out/data")
    p.add_argument("--out", default="bench_out/recon")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    configs = [(m, m, {}) for m in a.methods.split(",") if m] + [parse_extra(e) for e in a.extra]
    rows = []
    for kind in a.kinds.split(","):
        data = validation_files(Path(a.data_root), kind, a.files, a.slices)
        for acc in (int(r) for r in a.accelerations.split(",")):
            for label, method, opts in configs:
                cfg = make_config(method, acc, **{"batch_size": 4, **opts})
                r = run_config(f"{label}", data, Path(a.out) / kind / f"R{acc}", cfg)
                r["data"] = kind
                rows.append(r)
                print(f"{kind} R={acc} {label}: PSNR {r['PSNR']:.2f} SSIM {r['SSIM']:.4f} {r['s_per_slice']:.2f} s/slice",
                      flush=True)
                save_json(rows, Path(a.out) / "results.json")
    print(md_table(rows))


if __name__ == "__main__":
    main()
