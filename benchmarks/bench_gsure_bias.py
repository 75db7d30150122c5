"""GSURE against the truth on one robustness cell (issue 16, round 20): where its ranking of CS's λ goes wrong.

    python benchmarks/bench_gsure_bias.py --cell 8:0.8:40:4:equispaced --slice 1
    python benchmarks/bench_gsure_bias.py --cell 15:0.8:40:8:equispaced --slice 1 --eps 0.1

The cell is simulated as ``bench_robust.simulate_cell`` does (coils:radius:snr:R:mask, Colin27 validation slices,
ESPIRiT maps from the ACS lines, noise σ from the k-space). Plain CS runs at κσ_n × ``--factors``. For each λ it
prints, relative to the first factor:

- the true risk: ‖h − x‖² − ‖x‖², with x the clean coil images combined with the estimated maps (Σ S̄_c · coil
  image), which is the image GSURE's model describes;
- GSURE's estimate for each probe step ``--eps`` (× σ) and probe seed;
- the coil-map-error term −2 Re⟨h, δ⟩, δ = (AᴴA)⁻¹Aᴴ(y_clean − A x): GSURE measures the error against x + δ, so
  this is its bias from the maps (the rest is the probe's).

It also prints the true noise σ (sampled entries of y − y_clean), GSURE's residual σ and the k-space estimate.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cell", default="8:0.8:40:4:equispaced", help="coils:radius:snr:R:mask")
    p.add_argument("--slice", type=int, default=1, help="which of the cell's 2 slices")
    p.add_argument("--factors", default="1,0.25,0.5,2,4", help="λ in units of κσ_n (cs lamda=auto); the first is the reference")
    p.add_argument("--eps", default="0.5,0.1", help="probe steps in units of σ")
    p.add_argument("--seeds", default="0,1,2", help="probe seeds")
    p.add_argument("--max-iter", type=int, default=100)
    p.add_argument("--data", default="data/prepared")
    a = p.parse_args(argv)
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)

    from bench_robust import cell_operator, simulate_cell, slices
    from mrirecon.physics.fft import fft2c, rss
    from mrirecon.recon import sure
    from mrirecon.recon.common import measurement_scale
    from mrirecon.recon.cs import l1_wavelet_solve
    from mrirecon.recon.weights import cs_lambda, normalised_sigma

    coils, radius, snr, R, mk = a.cell.split(":")
    y, mask, ci = simulate_cell(slices(a.data, 2, "t1"), int(coils), float(radius), float(snr), int(R), mk)
    op = cell_operator(y, mask, int(coils))
    scale = measurement_scale(op, y)
    sig = normalised_sigma(op, y, scale)
    b = a.slice
    sub, yb, sc = op.select([b]), y[b:b + 1], scale[b:b + 1]
    lam0 = float(cs_lambda(sig)[b])
    factors = [float(v) for v in a.factors.split(",")]
    hs = {f: l1_wavelet_solve(sub, yb, lam0 * f, sc, max_iter=a.max_iter, seeds=[b]) for f in factors}

    maps = torch.as_tensor(sub.sense_parts(0)[0])
    x = (maps.conj() * ci[b]).sum(0)[None]
    sampled = yb != 0
    y_clean = fft2c(ci[b:b + 1]) * sampled
    e = y_clean - sub.forward(x)
    delta = sub.cg_solve(e, torch.zeros_like(x), 0.0, iters=sure.LS_ITERS, tol=sure.LS_TOL)
    target = rss(ci, 1)[b]
    print(f"cell {a.cell}, slice {b}: relative map error ‖y_clean − A x‖/‖y_clean‖ = "
          f"{float(e.abs().norm() / y_clean.abs().norm()):.4f}")
    true_sigma = float((yb - y_clean)[sampled].abs().pow(2).mean().sqrt())

    def rel(vals):
        return " ".join(f"{v - vals[0]:+9.4f}" for v in vals)

    true = [float((hs[f] - x).abs().pow(2).sum() - x.abs().pow(2).sum()) for f in factors]
    bias = [float(-2 * (hs[f].conj() * delta).sum().real) for f in factors]
    psnr = [10 * np.log10(float(target.max()) ** 2 / float((hs[f][0].abs() - target).pow(2).mean())) for f in factors]
    print("factors            " + " ".join(f"{f:>9g}" for f in factors))
    print("PSNR (slice)       " + " ".join(f"{v:9.2f}" for v in psnr))
    print("true risk          " + rel(true))
    print("map-error term     " + rel(bias))
    for eps in (float(v) for v in a.eps.split(",")):
        for seed in (int(v) for v in a.seeds.split(",")):
            est = sure.GSURE(sub, yb, sig[b] * sc[0], seed=seed, eps_rel=eps)
            risks = []
            for f in factors:
                hp = l1_wavelet_solve(sub, est.y_perturbed, lam0 * f, sc, max_iter=a.max_iter, seeds=[b])
                risks.append(float(est.risk(hs[f], hp)[0]))
            print(f"GSURE ε {eps:g}σ seed {seed} " + rel(risks), flush=True)
    print(f"σ: true {true_sigma:.4e}, GSURE's residual {float(est.sigma_residual[0]):.4e}, "
          f"k-space estimate {float(sig[b] * sc[0]):.4e}; noise fraction of x_ML {float(est.noise_fraction[0]):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
