"""GSURE's checks on every multi-coil robustness cell (issue 16, round 22): can it rank this slice?

    python benchmarks/bench_gsure_misfit.py --snr 40,50
    python benchmarks/bench_gsure_misfit.py --snr 20,30,50 --contrasts t2like --coils 8 --masks random

The cells are simulated as ``bench_robust.simulate_cell`` does (Colin27 validation slices, ESPIRiT maps from the
ACS lines, noise σ from the k-space, the probe seed `unet --dc-l1 sure` uses: the slice's index). Per slice it prints what
``recon.sure.GSURE`` decides from:

- ``res/ks``: the least-squares residual's σ over the k-space estimate (``GSURE.misfit``; > ``MISFIT_MAX``: the
  model leaves signal unexplained, unless the k-space estimate is itself inflated);
- ``ks/true``: the k-space estimate over the true σ (needs the truth; not used by GSURE);
- ``nf``: the noise's share of the least-squares image (``GSURE.noise_fraction``; > ``NOISE_FRACTION_MAX``:
  unreliable);
- ``share``: the misfit's share of the least-squares image (``GSURE.misfit_share``);
- ``ok``: ``GSURE.reliable``, and why not.

Cells where GSURE does not apply (single-coil, fewer than 1.5 sampled values per pixel) print ``n/a``.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--snr", default="20,30,40,50")
    p.add_argument("--coils", default="8,15")
    p.add_argument("--radii", default="1.5,0.8")
    p.add_argument("--accelerations", default="4,8")
    p.add_argument("--masks", default="random,equispaced")
    p.add_argument("--contrasts", default="t1")
    p.add_argument("--slices", type=int, default=2)
    p.add_argument("--data", default="data/prepared")
    a = p.parse_args(argv)
    from bench_robust import cell_operator, simulate_cell, slices, true_sigma

    from mrirecon.recon import sure
    from mrirecon.recon.common import measurement_scale
    from mrirecon.recon.weights import normalised_sigma

    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    print(f"MISFIT_MAX {sure.MISFIT_MAX}, MISFIT_SHARE_MAX {sure.MISFIT_SHARE_MAX}, "
          f"NOISE_FRACTION_MAX {sure.NOISE_FRACTION_MAX}")
    for contrast in a.contrasts.split(","):
        imgs = slices(a.data, a.slices, contrast)
        grid = itertools.product([float(s) for s in a.snr.split(",")], [int(c) for c in a.coils.split(",")],
                                 [float(r) for r in a.radii.split(",")], [int(r) for r in a.accelerations.split(",")],
                                 a.masks.split(","))
        for snr, coils, radius, R, mk in grid:
            y, mask, _ = simulate_cell(imgs, coils, radius, snr, R, mk)
            op = cell_operator(y, mask, coils)
            scale = measurement_scale(op, y)
            sig = normalised_sigma(op, y, scale).reshape(-1).expand(len(y))
            ok = sure.applicable(op, len(y))
            sigma_true = true_sigma(imgs, snr)
            out = []
            for i in range(len(y)):
                if not ok[i]:
                    out.append("n/a")
                    continue
                est = sure.GSURE(op.select([i]), y[i:i + 1], sig[i] * scale[i], seed=i)
                ks = float(sig[i] * scale[i])
                why = est.why_unreliable(0)
                out.append(f"res/ks {float(est.misfit[0]):.3f} ks/true {ks / sigma_true:.3f} "
                           f"nf {float(est.noise_fraction[0]):.2f} share {float(est.misfit_share[0]):.3f} "
                           f"ok {'yes' if why is None else 'no (' + why + ')'}")
            print(f"{contrast} {snr:.0f} dB {coils}c r{radius} R{R} {mk}: " + " | ".join(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
