"""CCDF-20 variants that cost no extra network evaluation (issue 21), on the peers benchmark's
single-coil cell (8 Colin27 slices × 2 noise seeds, fastMRI random masks by file name;
``bench_peers.make_cell``), against the default CCDF (t0 0.07, 20 steps):

- ``last<k>``: the mean of the last k Tweedie estimates (after their data consistency) instead of the
  last one — averages the independent noise draws of DiffPIR's update (ζ = 1);
- ``tend<t>``: the 20 steps end at timestep t instead of 0 (no steps spent below the data's noise);
- ``dihedral`` / ``flip2`` / ``conj``: the prior evaluated on a different flip / transpose (all 8, or
  none / both flips) or on the complex conjugate of x_t at each step, undone after — a per-step
  self-ensemble over the trajectory;
- any ``KEY=VALUE,...`` of ``CCDFOptions`` (e.g. ``dc_lambda=0.5``).

Prints PSNR / SSIM per variant (docs/benchmarks.md, round 12).

    python benchmarks/bench_ccdf_probes.py [--R 4] [--variants "default;last2;tend5;dihedral;dc_lambda=0.5"]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mrirecon.diffusion.schedule import VPSchedule  # noqa: E402
from mrirecon.recon.unet import _dihedral, _undihedral  # noqa: E402 (the SR ensemble's transforms)

#: the prior's input transforms per step (``recon.unet._dihedral``: bit 0 flips W, bit 1 flips H, bit 2 transposes)
ORDERS = {"dihedral": [0, 7, 3, 4, 1, 6, 2, 5], "flip2": [0, 3]}


class _EndAt(VPSchedule):
    """The schedule whose strided grids stop at timestep ``t_end`` instead of 0."""

    def __init__(self, base: VPSchedule, t_end: int):
        super().__init__(base.config)
        self.t_end = t_end

    def timesteps(self, t_start, steps=None, unique=True, spacing="linear"):
        if steps is None:
            return list(range(t_start, self.t_end - 1, -1))
        out: list[int] = []
        for t in torch.linspace(t_start, self.t_end, int(steps)).round().long().tolist():
            if not out or t < out[-1]:
                out.append(int(t))
        return out


class _Prior:
    """The shipped prior seen through a per-step input transform and / or another schedule."""

    def __init__(self, prior, mode: str | None = None, schedule=None):
        self.prior, self.mode, self.schedule, self.calls = prior, mode, schedule or prior.schedule, 0

    def eps(self, x, t):
        i, self.calls = self.calls, self.calls + 1
        if self.mode == "conj":
            return self.prior.eps(x.conj(), t).conj() if i % 2 else self.prior.eps(x, t)
        if self.mode in ORDERS:
            k = ORDERS[self.mode][i % len(ORDERS[self.mode])]
            return _undihedral(self.prior.eps(_dihedral(x, k), t), k)
        return self.prior.eps(x, t)


def run_variant(items, net, prior, spec: str, seed: int):
    from bench_peers import score
    from mrirecon.diffusion.schedule import item_generators
    from mrirecon.recon import ccdf
    from mrirecon.recon.common import measurement_scale
    from mrirecon.recon.options import parse_assignments

    last, pr, kv = 1, prior, {}
    if spec.startswith("last"):
        last = int(spec[4:])
    elif spec.startswith("tend"):
        pr = _Prior(prior, schedule=_EndAt(prior.schedule, int(spec[4:])))
    elif spec in ORDERS or spec == "conj":
        pr = _Prior(prior, spec)
    elif spec != "default":
        kv = parse_assignments(spec)
    out = []
    for i, it in enumerate(items):
        x0s: list[torch.Tensor] = []
        r = ccdf.solve(it["op"], it["y"], pr, init=net, options=ccdf.CCDFOptions(**kv),
                       generator=item_generators(seed + i, 1, torch.device("cpu")),
                       callback=lambda j, t, x, x0: x0s.append(x0))
        if last > 1:  # the estimates are at the networks' scale; the result is at y's
            sc = float(measurement_scale(it["op"], it["y"]).flatten()[0])
            out.append((torch.stack(x0s[-last:]).mean(0)[0] * sc).numpy())
        else:
            out.append(r.image[0].numpy())
    return score(items, out), r.nfe


def main():
    from bench_peers import make_cell
    from mrirecon.diffusion.prior import DiffusionPrior
    from mrirecon.models import load_model
    from mrirecon.resources import weights_dir

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--R", type=int, default=4)
    p.add_argument("--data", default="data/prepared")
    p.add_argument("--seeds", default="2000,3000")
    p.add_argument("--variants", default="default;last2;last4;tend5;tend10;dihedral;flip2;conj;dc_lambda=0.5;"
                                         "dc_lambda=0.7")
    a = p.parse_args()
    torch.set_num_threads(1)
    net, prior = load_model(weights_dir("unet")), DiffusionPrior.load(weights_dir("prior"))
    items = make_cell(a.data, 8, 1, a.R, 30.0)
    seeds = [int(s) for s in a.seeds.split(",")]
    for spec in filter(None, a.variants.split(";")):
        t = time.time()
        r = [run_variant(items, net, prior, spec, s) for s in seeds]
        print(f"{spec} (NFE {r[0][1]}): PSNR {np.mean([v[0][0] for v in r]):.3f} "
              f"SSIM {np.mean([v[0][1] for v in r]):.4f} per seed {[v[0][0] for v in r]} ({time.time() - t:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
