"""How much do outputs depend on --batch-size and the thread count? (issue 20)

    python benchmarks/bench_determinism.py [--methods zero-filled,cs,unet,ccdf,red-diff] [--file demo]

For each method: the bundled demo file reconstructed with batch sizes 1, 2, 4 and torch threads 1
and 2 (each in a fresh process), compared with the batch-4 / 1-thread run: the largest absolute
difference relative to the volume's peak, and whether a repeat of the same run is bit-identical.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np


def run(file, out, method, batch, threads, extra):
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "TQDM_DISABLE": "1", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "mrirecon", "reconstruct", str(file), str(out), "--method", method,
                        "--batch-size", str(batch), "--device", "cpu", *extra], env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr[-500:])
    with h5py.File(Path(out) / Path(file).name) as hf:
        return hf["reconstruction"][()]


def main():
    from mrirecon.resources import demo_file

    p = argparse.ArgumentParser()
    p.add_argument("--methods", default="zero-filled,cs,unet,ccdf,red-diff")
    p.add_argument("--file", default=None)
    p.add_argument("--out", default="bench_out/determinism.json")
    a = p.parse_args()
    file = Path(a.file) if a.file else demo_file()
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for m in a.methods.split(","):
            extra = ["--steps", "20"] if m == "red-diff" else []
            ref = run(file, Path(td) / f"{m}_ref", m, 4, 1, extra)
            rep = run(file, Path(td) / f"{m}_rep", m, 4, 1, extra)
            row = {"method": m, "repeat_bit_identical": bool(np.array_equal(ref, rep))}
            for b, t in ((1, 1), (2, 1), (4, 2)):
                x = run(file, Path(td) / f"{m}_{b}_{t}", m, b, t, extra)
                row[f"batch{b}_threads{t}"] = float(np.abs(x - ref).max() / ref.max())
            rows.append(row)
            print(json.dumps(row), flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))
    print("\n| method | repeat bit-identical | batch 1 | batch 2 | batch 4, 2 threads |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {'yes' if r['repeat_bit_identical'] else 'no'} | {r['batch1_threads1']:.1e} | "
              f"{r['batch2_threads1']:.1e} | {r['batch4_threads2']:.1e} |")
    print("(largest |difference| relative to the volume's peak, against batch 4 with 1 thread)")


if __name__ == "__main__":
    main()
