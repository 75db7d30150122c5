"""Peak memory of `mrirecon reconstruct` on an 8-coil 320² file as the slice count grows (issue 20).

    python benchmarks/bench_memory_file.py [--slices 4,12,30] [--methods zero-filled,cs,unet,ccdf]

Simulates a file per slice count (phantom slices, 8 birdcage coils, 2x readout oversampling, i.e.
k-space 640×320 per coil as fastMRI brain data), runs each method in a fresh process under
`/usr/bin/time -v` and reports the maximum resident set size. Diffusion methods run with few steps
(`--steps`): memory does not depend on the step count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

STEPS = {"ccdf": ["--steps", "2"], "diffusion": ["--steps", "2"], "dps": ["--steps", "2"], "red-diff": ["--steps", "3"]}


def make_file(path: Path, n: int, size: int = 320, coils: int = 8) -> Path:
    from mrirecon.data.synth import SimConfig, write_simulated

    yy, xx = np.mgrid[-1:1:complex(size), -1:1:complex(size)]
    mags = []
    for s in range(n):
        r = np.random.default_rng(s)
        img = ((xx / 0.8) ** 2 + (yy / 0.9) ** 2 < 1) * 0.6
        for _ in range(5):
            cx, cy, rad = r.uniform(-0.4, 0.4, 2).tolist() + [r.uniform(0.05, 0.2)]
            img = np.where((xx - cx) ** 2 + (yy - cy) ** 2 < rad ** 2, r.uniform(0.3, 1), img)
        mags.append(img.astype(np.float32))
    return write_simulated(path, np.stack(mags), SimConfig(coils=coils, readout_oversampling=2, seed=n))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--slices", default="4,12,30")
    p.add_argument("--methods", default="zero-filled,cs,unet,ccdf")
    p.add_argument("--out", default="bench_out/memory_file.json")
    a = p.parse_args()
    rows = []
    env = dict(os.environ, TQDM_DISABLE="1", OMP_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as td:
        for n in (int(x) for x in a.slices.split(",")):
            f = make_file(Path(td) / f"mem{n}" / f"brain{n}.h5", n)
            for m in a.methods.split(","):
                r = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "mrirecon", "reconstruct", str(f),
                                    str(Path(td) / f"out_{m}_{n}"), "--method", m, "--device", "cpu", *STEPS.get(m, [])],
                                   capture_output=True, text=True, env=env)
                peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
                wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", r.stderr)
                rows.append({"method": m, "slices": n, "rc": r.returncode,
                             "peak_rss_mb": round(int(peak.group(1)) / 1024, 1) if peak else None,
                             "wall": wall.group(1) if wall else None})
                print(json.dumps(rows[-1]), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))
    ns = sorted({r["slices"] for r in rows})
    print("\n| method | " + " | ".join(f"{n} slices" for n in ns) + " |\n|---|" + "---|" * len(ns))
    for m in a.methods.split(","):
        print(f"| {m} | " + " | ".join(f"{r['peak_rss_mb']} MB" for n in ns for r in rows
                                        if r["method"] == m and r["slices"] == n) + " |")


if __name__ == "__main__":
    main()
