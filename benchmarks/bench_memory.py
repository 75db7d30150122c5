"""Peak memory and network evaluations per method: one 128×128 single-coil slice per run, each
method in a fresh process; reports the growth of the peak resident set (CPU) or of
``torch.cuda.max_memory_allocated`` (GPU) during the first solve over the state after loading (timing and NFE from a second solve).

    python benchmarks/bench_memory.py [--methods unet,ccdf,red-diff,dps,diffusion] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads(1)
from mrirecon.data.masks import RandomMaskFunc, mask_2d
from mrirecon.diffusion.schedule import item_generators
from mrirecon.physics import SingleCoilMRI, fft2c
from mrirecon.pipeline import build_solver
method, steps = sys.argv[1], int(sys.argv[2])
opts = {} if method in ("zero-filled", "cs", "unet") else {"steps": steps}
if method == "ccdf":
    opts["t0"] = 1.0
solver = build_solver(method, opts, device="cpu")
x = torch.polar(torch.rand(1, 128, 128), torch.zeros(1, 128, 128))
m, _ = mask_2d(RandomMaskFunc([0.08], [4]), (128, 128), seed=0)
op, y = SingleCoilMRI(m), fft2c(x) * m
calls = [0]
import mrirecon.models.prior as mp, mrirecon.models.unet as mu
for cls in (mp.PriorUNet, mu.UNet):
    orig = cls.forward
    def wrapped(self, *a, _o=orig, **k):
        calls[0] += 1
        return _o(self, *a, **k)
    cls.forward = wrapped
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
solver(op, y, generator=item_generators(0, 1))  # first solve: its peak over the loaded state is the memory the solve needs
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
calls[0] = 0
t = time.time()
solver(op, y, generator=item_generators(1, 1))
dt = time.time() - t
print(json.dumps({"method": method, "nfe": calls[0], "seconds": round(dt, 2), "rss_growth_mb": round((peak - base) / 1024, 1),
                  "peak_rss_mb": round(peak / 1024, 1)}))
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--methods", default="zero-filled,unet,ccdf,red-diff,dps,diffusion")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    rows = []
    for m in a.methods.split(","):
        r = subprocess.run([sys.executable, "-c", CHILD, m, str(a.steps)], capture_output=True, text=True)
        if r.returncode:
            print(f"{m}: failed\n{r.stderr[-800:]}")
            continue
        rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    print("\n| method | NFE | s/slice | peak RSS (MB) | RSS growth in solve (MB) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {r['nfe']} | {r['seconds']} | {r['peak_rss_mb']} | {r['rss_growth_mb']} |")
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
