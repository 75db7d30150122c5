"""Training throughput (samples/s) of each objective on this machine, at 128² and 320² (issue 17).

    python benchmarks/bench_train_speed.py [--sizes 128,320] [--steps 3] [--coils 4] [--threads 2]

Writes a tiny fastMRI-layout folder per size (simulated from phantoms, 4-coil, 2x readout
oversampling) and runs ``mrirecon train <what>`` for a few steps with batch 4 on it; reports the
samples/s the training log records (the first step, which builds caches, is excluded).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def make_folder(root: Path, size: int, coils: int) -> Path:
    from mrirecon.data.synth import SimConfig, simulate_kspace
    from mrirecon.io.fastmri import make_header, write_fastmri_file
    from mrirecon.physics.fft import center_crop

    yy, xx = np.mgrid[-1:1:complex(size), -1:1:complex(size)]
    for i in range(3):
        mags = []
        for s in range(4):
            r = np.random.default_rng(10 * i + s)
            img = ((xx / 0.8) ** 2 + (yy / 0.9) ** 2 < 1) * 0.6
            for _ in range(5):
                cx, cy, rad = r.uniform(-0.4, 0.4, 2).tolist() + [r.uniform(0.05, 0.2)]
                img = np.where((xx - cx) ** 2 + (yy - cy) ** 2 < rad ** 2, r.uniform(0.3, 1), img)
            mags.append(img.astype(np.float32))
        k, tgt = simulate_kspace(np.stack(mags), SimConfig(coils=coils, readout_oversampling=2, seed=i))
        tgt = center_crop(tgt, (size, size)).numpy()
        hdr = make_header((2 * size, size, 1), (size, size, 1), (440.0, 220.0, 5.0), (220.0, 220.0, 5.0))
        write_fastmri_file(root / f"v{i}.h5", k.numpy(), target=tgt, header=hdr,
                           attrs={"max": float(tgt.max()), "norm": float(np.linalg.norm(tgt))})
    return root


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", default="128,320")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--coils", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="bench_out/train_speed.json")
    a = p.parse_args()
    rows = []
    env = dict(os.environ, TQDM_DISABLE="1", OMP_NUM_THREADS=str(a.threads))
    with tempfile.TemporaryDirectory() as td:
        for size in (int(s) for s in a.sizes.split(",")):
            data = make_folder(Path(td) / f"data{size}", size, a.coils)
            (Path(td) / f"data{size}").mkdir(exist_ok=True)
            for what, extra in (("unet", []), ("prior", ["--crop", "64"]), ("sr3", ["--crop", "64"])):
                out = Path(td) / f"{what}{size}"
                r = subprocess.run([sys.executable, "-m", "mrirecon", "train", what, "--data", str(data), "--out", str(out),
                                    "--steps", str(a.steps), "--batch-size", "4", "--checkpoint-every", "1",
                                    "--val-every", "1000", "--threads", str(a.threads), "--device", "cpu", *extra],
                                   capture_output=True, text=True, env=env)
                if r.returncode:
                    print(f"{what} {size}: failed\n{r.stderr[-600:]}")
                    continue
                recs = [json.loads(line) for line in (out / "train.log").read_text().splitlines() if line.startswith("{")]
                # throughput after the first step: (samples in steps 2..n) / (their time)
                t = [x["wall_s"] for x in recs]
                sps = 4 * (len(t) - 1) / max(t[-1] - t[0], 1e-9) if len(t) > 1 else recs[-1]["samples_per_s"]
                rows.append({"objective": what, "size": size, "samples_per_s": round(sps, 2), "steps": len(recs)})
                print(json.dumps(rows[-1]), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))
    print("\n| objective | image size | samples/s |\n|---|---|---|")
    for r in rows:
        print(f"| {r['objective']} | {r['size']}² | {r['samples_per_s']} |")


if __name__ == "__main__":
    main()
