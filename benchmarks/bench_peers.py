"""Peer comparison (issue 21): our solvers against deepinv 0.5.0's DiffPIR and DPS, all with OUR
shipped prior (deepinv gets it through ``mrirecon.interop.deepinv``), on the same slices, masks and
noise.

Runs in the separate environment made by ``benchmarks/setup_deepinv.sh`` (deepinv pulls torchvision,
which must stay out of the project's own .venv):

    bash benchmarks/setup_deepinv.sh
    .venv-deepinv/bin/python benchmarks/bench_peers.py --coils 1 --R 4 --seeds 2000,3000 --out bench_out/peers/c1_R4.json
    .venv-deepinv/bin/python benchmarks/bench_peers.py --table bench_out/peers/*.json   # Markdown tables

``--peers diffpir-ref:nfe=100`` is deepinv's DiffPIR loop transcribed (``diffpir_reference``): identical
numbers on single-coil data, and it runs in the project's own .venv, with a SENSE prox that finishes
(deepinv's generic CG prox takes ~7 min per multi-coil slice at 100 NFE here). Single posterior samples
vary by up to ±0.6 dB between noise seeds on 4 slices at R=8, so compare means over ``--seeds``.

Data: ``--slices`` axial Colin27 slices (the validation volume, never trained on) from
``data/prepared/val_128.npz``, simulated as ``bench_robust.py`` does (smooth random phase, ``--coils``
birdcage coils of radius 1.5 or single-coil, complex noise at ``--snr`` dB), undersampled with
fastMRI's random mask seeded by a file name per slice (``peer<i>.h5``; R=4: centre fraction 0.08, R=8:
0.04). ESPIRiT maps from the ACS lines for multi-coil (as ``mrirecon reconstruct`` does). Scored
(PSNR / SSIM, fastMRI definitions, magnitude) against the noiseless image. Every method sees the
measurement divided by max|Aᴴy| (the networks' scale); deepinv's physics is our operator wrapped as
a ``deepinv.physics.LinearPhysics`` on (real, imaginary) channels, with the noise σ of that scaled
measurement (known, as DiffPIR's ρ_t = λσ²/σ̄_t² needs it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch


def _deepinv():
    """Import deepinv beside the CPU torch: torchvision's compiled ops do not load there, and its
    fake-kernel registrations fail on import; deepinv's samplers never call those ops."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import deepinv

    return deepinv


def make_cell(data, n, coils, R, snr, seed=0):
    from mrirecon.data.masks import RandomMaskFunc, mask_2d, seed_from_filename
    from mrirecon.data.synth import SimConfig, simulate_kspace
    from mrirecon.physics import MultiCoilMRI, SingleCoilMRI
    from mrirecon.physics.coils import estimate_maps
    from mrirecon.physics.fft import ifft2c, rss
    from mrirecon.data.prepare import load_split

    imgs = load_split(data, "val", 128, orientation="axial")
    sel = imgs[np.linspace(int(len(imgs) * 0.35), int(len(imgs) * 0.7), n).astype(int)].astype(np.float32)
    k, _ = simulate_kspace(sel, SimConfig(coils=coils, snr_db=snr, coil_radius=1.5, seed=seed))
    clean, _ = simulate_kspace(sel, SimConfig(coils=coils, snr_db=300.0, coil_radius=1.5, seed=seed))
    ci = ifft2c(clean)
    target = (rss(ci, 1) if coils > 1 else ci.abs()).numpy()
    cf = {4: 0.08, 8: 0.04}.get(R, 0.32 / R)
    items = []
    for i in range(n):
        mask, _ = mask_2d(RandomMaskFunc([cf], [R]), tuple(k.shape[-2:]), seed=seed_from_filename(f"peer{i}.h5"))
        y = k[i:i + 1] * mask
        if coils > 1:
            maps = estimate_maps(y[0], mask[0])[0]
            op = MultiCoilMRI(mask, maps[None])
        else:
            op = SingleCoilMRI(mask)
        sigma = op.estimate_noise(y)
        scale = float(op.adjoint(y).abs().amax())
        items.append({"op": op, "y": y / scale, "scale": scale, "target": target[i] / scale,
                      "sigma": float(sigma.flatten()[0]) / scale if sigma is not None else 0.0})
    return items


def score(items, images):
    from mrirecon.eval.metrics import evaluate_volume

    t = np.stack([it["target"] for it in items])
    p = np.stack([np.abs(x) for x in images])
    m = evaluate_volume(t, p)
    return round(float(m["PSNR"]), 3), round(float(m["SSIM"]), 4)


def ours(items, method, options, weights=None, seed=1000, unet_weights=None):
    from mrirecon.diffusion.schedule import item_generators
    from mrirecon.pipeline.solvers import build_solver

    solver = build_solver(method, options, device="cpu", weights=weights, unet_weights=unet_weights)
    out, nfe = [], 0
    for i, it in enumerate(items):
        r = solver(it["op"], it["y"], generator=item_generators(seed + i, 1, torch.device("cpu")))
        out.append(r.image[0].numpy())
        nfe = r.nfe
    return out, nfe


class _Wrapped:
    """Our operator as deepinv LinearPhysics on (B, 2, H, W) images and (B, 2·C, H, W) measurements."""

    def __new__(cls, dinv, op, sigma):
        def ch(z):  # complex (1, [C,] H, W) -> real (1, 2[·C], H, W)
            z = z if z.dim() == 4 else z[:, None]
            return torch.cat([z.real, z.imag], 1)

        def unch(t, coils):
            c = t.shape[1] // 2
            z = torch.complex(t[:, :c], t[:, c:])
            return z if coils > 1 else z[:, 0]

        coils = op.num_coils
        A = lambda x: ch(op.forward(torch.complex(x[:, 0], x[:, 1])))  # noqa: E731
        At = lambda y: ch(op.adjoint(unch(y, coils)))  # noqa: E731
        phys = dinv.physics.LinearPhysics(A=A, A_adjoint=At, noise_model=dinv.physics.GaussianNoise(sigma=sigma),
                                          max_iter=50, tol=1e-6)
        phys.ch = ch
        return phys


def diffpir_unclamped(dinv):
    """deepinv's DiffPIR (0.5.0) without its clamp of x̂₀ to [0, 1] per channel, which cuts the negative
    real / imaginary parts of complex MR images with phase; otherwise the same loop (its ``forward``,
    transcribed): our data have phase, so the peer's best is this variant."""

    class DiffPIRNoClamp(dinv.sampling.DiffPIR):
        def forward(self, y, physics, seed=None, x_init=None):
            if hasattr(physics.noise_model, "sigma"):
                self.rhos, self.sigmas, self.seq = self.get_noise_schedule(sigma=physics.noise_model.sigma)
            x = 2 * (physics.A_adjoint(y) if x_init is None else x_init) - 1
            sqrt_recip_alphas_cumprod, _ = self.get_alpha_prod()
            with torch.no_grad():
                for i in range(len(self.seq)):
                    curr_sigma = self.sigmas[self.seq[i]]
                    t_i = self.find_nearest(self.reduced_alpha_cumprod, curr_sigma)
                    at = 1 / sqrt_recip_alphas_cumprod[t_i] ** 2
                    if i == 0:
                        x = (x + (curr_sigma ** 2 - 4.0 * self.sigma ** 2).sqrt() * torch.randn_like(x)) \
                            / sqrt_recip_alphas_cumprod[-1]
                    x0 = 2 * self.model(x / (2 * at.sqrt()) + 0.5, curr_sigma / 2) - 1  # no clamp here
                    if not self.seq[i] == self.seq[-1]:
                        x0 = 2 * self.data_fidelity.prox(x0 / 2 + 0.5, y, physics, gamma=1.0 / (2 * self.rhos[t_i])) - 1
                        t_im1 = self.find_nearest(self.reduced_alpha_cumprod, self.sigmas[self.seq[i + 1]])
                        eps = (x - self.sqrt_alphas_cumprod[t_i] * x0) / self.sqrt_1m_alphas_cumprod[t_i]
                        x = (self.sqrt_alphas_cumprod[t_im1] * x0
                             + self.sqrt_1m_alphas_cumprod[t_im1] * (1 - self.zeta) ** 0.5 * eps
                             + self.sqrt_1m_alphas_cumprod[t_im1] * self.zeta ** 0.5 * torch.randn_like(x))
            return x / 2 + 0.5  # as deepinv returns it

    return DiffPIRNoClamp


def diffpir_reference(items, nfe, weights=None, seed=2000, lam=1.0):
    """deepinv 0.5.0's DiffPIR loop (``diffpir_unclamped``) transcribed to our image units — x̂₀ from
    ``prior.denoise`` at σ̄_t/2, the proximal step argmin ‖Az − y‖² + (λσ²/σ̄_t²)‖z − x̂₀‖² (our closed
    form for single-coil, CG with 50 iterations for SENSE, as deepinv's), fresh noise (ζ = 1), deepinv's
    √-spaced grid, the same torch.manual_seed(seed + i) noise. On single-coil data it gives deepinv's
    numbers to the last digit (checked: 21.041 dB both, R=8, 4 slices); it runs without deepinv and
    without deepinv's generic CG in the single-coil prox, so the multi-coil cells finish."""
    from mrirecon.pipeline.solvers import load_prior

    prior = load_prior(weights, torch.device("cpu"))
    T = prior.schedule.T
    red = prior.schedule.sigma_over_alpha(torch.arange(T)).float()
    seq = torch.sqrt(torch.linspace(0, T ** 2, nfe)).int()
    seq[-1] -= 1
    out = []
    with torch.no_grad():
        for i, it in enumerate(items):
            torch.manual_seed(seed + i)
            op, y, sig = it["op"], it["y"], it["sigma"]
            x = op.adjoint(y)
            noise = lambda: torch.complex(torch.randn(x.shape), torch.randn(x.shape))  # noqa: E731
            img = x
            for k in range(nfe):
                cs = float(red[T - 1 - int(seq[k])])
                if k == 0:
                    img = x + cs / 2 * noise()
                x0 = prior.denoise(img, cs / 2)
                if k < nfe - 1:  # deepinv skips the data step and the update at its last step
                    mu = lam * sig ** 2 / cs ** 2
                    x0 = op.prox(x0, y, mu) if op.num_coils == 1 else op.cg_solve(y, x0, mu, 50, tol=1e-6)
                    img = x0 + float(red[T - 1 - int(seq[k + 1])]) / 2 * noise()
            out.append(img[0].numpy())
    return out


def peers(items, which, nfe, weights=None, seed=2000, **kw):
    if which == "diffpir-ref":
        return diffpir_reference(items, nfe, weights, seed, kw.get("lam", 1.0))
    dinv = _deepinv()
    from mrirecon.interop.deepinv import as_deepinv_denoiser
    from mrirecon.pipeline.solvers import load_prior

    den = as_deepinv_denoiser(load_prior(weights, torch.device("cpu")))
    out = []
    for i, it in enumerate(items):
        # per real channel: the complex noise sigma / sqrt(2)
        phys = _Wrapped(dinv, it["op"], it["sigma"] / np.sqrt(2))
        y = phys.ch(it["y"] if it["y"].dim() == 4 else it["y"])
        torch.manual_seed(seed + i)
        with torch.no_grad() if which == "diffpir" else torch.enable_grad():
            if which in ("diffpir", "diffpir-noclamp"):
                cls = dinv.sampling.DiffPIR if which == "diffpir" else diffpir_unclamped(dinv)
                model = cls(den, dinv.optim.data_fidelity.L2(), sigma=it["sigma"] / np.sqrt(2),
                            max_iter=nfe, zeta=kw.get("zeta", 1.0), lambda_=kw.get("lam", 7.0))
                x = model(y, phys, x_init=phys.A_adjoint(y))
            else:
                model = dinv.sampling.DPS(den, num_steps=nfe, weight=kw.get("weight", 1.0), solver="ddim",
                                          dtype=torch.float32)
                x = model(y, phys, x_init=(1, 2, *it["target"].shape))
        x = x.detach()
        out.append(torch.complex(x[0, 0], x[0, 1]).numpy())
    return out


def run(a):
    items = make_cell(a.data, a.slices, a.coils, a.R, a.snr)
    seeds = [int(v) for v in str(a.seeds).split(",")]
    cell = {"coils": a.coils, "R": a.R, "snr": a.snr, "slices": a.slices}
    out = Path(a.out)
    rows = [r for r in json.loads(out.read_text()) if all(r[k] == v for k, v in cell.items())] if out.exists() else []
    done = {(r["solver"], r["config"], r["nfe"], tuple(r.get("seeds", [None]))) for r in rows}  # a rerun skips them

    def rec(solver, cfg, nfe, runs, t0):
        scores = [score(items, imgs) for imgs in runs]
        row = {**cell, "solver": solver, "config": cfg, "nfe": nfe, "seeds": seeds,
               "psnr": round(float(np.mean([v[0] for v in scores])), 3),
               "ssim": round(float(np.mean([v[1] for v in scores])), 4), "psnr_per_seed": [v[0] for v in scores],
               "s_per_slice": round((time.time() - t0) / len(items) / len(seeds), 2)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(rows, indent=1))

    from mrirecon.recon.options import parse_assignments

    for spec in filter(None, a.ours.split(";")):
        method, _, kv = spec.partition(":")
        opts = parse_assignments(kv)
        if any(d[0] == f"ours {method}" and d[1] == (kv or "default") and d[3] == tuple(seeds) for d in done):
            continue
        t0 = time.time()
        runs = []
        for sd in seeds:  # our generators: seed + slice index, as the peers' torch.manual_seed(seed + i)
            imgs, nfe = ours(items, method, opts, weights=a.prior, seed=sd, unet_weights=a.unet)
            runs.append(imgs)
        rec(f"ours {method}", kv or "default", nfe, runs, t0)
    for spec in filter(None, a.peers.split(";")):
        which, _, kv = spec.partition(":")
        kw = {k: float(v) for k, v in parse_assignments(kv).items()}
        nfe = int(kw.pop("nfe"))
        cfg = ",".join(f"{k}={v:g}" for k, v in kw.items())
        label = f"{'transcribed' if which == 'diffpir-ref' else 'deepinv'} {which}"  # diffpir-ref: not deepinv's code
        if (label, cfg, nfe, tuple(seeds)) in done:
            continue
        t0 = time.time()
        rec(label, cfg, nfe, [peers(items, which, nfe, weights=a.prior, seed=sd, **kw) for sd in seeds], t0)


def table(files):
    rows = list({(r["coils"], r["R"], r["slices"], r["solver"], r["config"], r["nfe"], tuple(r.get("seeds", [0]))): r
                 for f in files for r in json.loads(Path(f).read_text())}.values())
    cells = sorted({(r["coils"], r["R"]) for r in rows})
    print("| coils | R | slices × seeds | solver | config | NFE | PSNR | SSIM | PSNR per seed | s/slice |\n"
          "|---|---|---|---|---|---|---|---|---|---|")
    for c in cells:
        for r in sorted((r for r in rows if (r["coils"], r["R"]) == c), key=lambda r: (r["solver"], r["nfe"])):
            per = " / ".join(f"{v:.2f}" for v in r.get("psnr_per_seed", [r["psnr"]]))
            print(f"| {r['coils']} | {r['R']} | {r['slices']} × {len(r.get('seeds', [0]))} | {r['solver']} | {r['config']} | "
                  f"{r['nfe']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {per} | {r['s_per_slice']} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true", help="import deepinv and run the adapter once")
    p.add_argument("--table", nargs="*", help="print the Markdown table of these result files")
    p.add_argument("--data", default="data/prepared")
    p.add_argument("--slices", type=int, default=8)
    p.add_argument("--coils", type=int, default=1)
    p.add_argument("--R", type=int, default=4)
    p.add_argument("--snr", type=float, default=30.0)
    p.add_argument("--ours", default="ccdf:;ccdf:steps=20;red-diff:;diffusion:steps=100;"
                                     "diffusion:steps=100,dc_mode=prox,dc_weight=auto;dps:steps=20;dps:steps=50")
    p.add_argument("--peers", default="diffpir:nfe=20,lam=1,zeta=1;diffpir:nfe=100,lam=7,zeta=0.1;"
                                      "diffpir:nfe=100,lam=1,zeta=1;dps:nfe=20;dps:nfe=50")
    p.add_argument("--out", default="bench_out/peers/peers.json")
    p.add_argument("--prior", default=None, help="prior weights folder for both sides (default: the shipped prior)")
    p.add_argument("--unet", default=None, help="U-Net weights folder of our solvers' U-Net start (default: the shipped one)")
    p.add_argument("--seeds", default="2000", help="noise seeds (each solver's slice i draws from seed + i); "
                                                   "the PSNR is the mean over seeds")
    a = p.parse_args()
    if a.table is not None:
        return table(a.table)
    if any(not p.startswith("diffpir-ref") for p in filter(None, a.peers.split(";"))):
        _deepinv()  # before diffusers is imported: it imports torchvision too
    if a.check:
        _deepinv()
        from mrirecon.interop.deepinv import as_deepinv_denoiser
        from mrirecon.pipeline.solvers import load_prior

        den = as_deepinv_denoiser(load_prior(None, torch.device("cpu")))
        x = torch.zeros(1, 2, 32, 32)
        print("deepinv adapter ok:", tuple(den(x + 0.1 * torch.randn_like(x), 0.1).shape))
        return
    run(a)


if __name__ == "__main__":
    main()
