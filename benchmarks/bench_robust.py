"""Robustness matrix (issue 15): every method on validation slices never used in training (Colin27),
over SNR × coils × coil model × acceleration × mask family, plus a T2-like contrast.

    python benchmarks/bench_robust.py --snr 20,30,40,50 --out bench_out/robust/lane1.json [--slices 2]

Each cell simulates k-space (``data.synth.simulate_kspace``: smooth random phase, birdcage maps of
the given radius, complex noise at the SNR), undersamples it with fastMRI's random or equispaced
mask, estimates ESPIRiT maps from the ACS lines and the noise σ from the k-space (as
``mrirecon reconstruct`` does) and scores PSNR / SSIM (fastMRI definitions, magnitude) against the
NOISELESS image (RSS of the coil images without noise): denoising counts. CS runs on a 7-value λ
grid (the best is the reference column "CS best-grid") and with λ=auto ("cs sure", method cs-sure: λ by GSURE,
``recon.sure``); "unet+dc" / "ccdf" use the
previous constants (μ 0.02 / 0.05), "… auto" the weights derived from the noise estimate. DPS uses 50 steps (1000
is too slow here); RED-diff (100 iterations, ~45 s per cell on this CPU) runs on the random-mask
cells of the first coil model only. Writes one JSON row per (cell, method); ``--table`` prints the Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def slices(data: str, n: int, contrast: str) -> np.ndarray:
    from mrirecon.data.prepare import load_split

    imgs = load_split(data, "val", 128, orientation="axial")
    lo, hi = int(len(imgs) * 0.35), int(len(imgs) * 0.7)
    sel = imgs[np.linspace(lo, hi, n).astype(int)].astype(np.float32)
    if contrast == "t2like":  # non-monotone remap inside the head: dark white matter, bright CSF / grey matter
        mx = sel.max(axis=(1, 2), keepdims=True)
        u = sel / mx
        head = u > 0.08
        sel = np.where(head, 0.25 + 0.75 * np.exp(-((u - 0.35) / 0.25) ** 2), 0.0) * mx
    return sel


def simulate_cell(images, coils, radius, snr, R, mask_kind, seed=0):
    """One cell's data: ``(y, mask, clean coil images)`` — k-space of the slices at the SNR with birdcage maps
    of the radius, undersampled by fastMRI's random or equispaced mask (centre fraction 0.08 at R=4, 0.04 at
    R=8, mask seed 1234), and the noise-free (coil) images."""
    from mrirecon.data.masks import EquiSpacedMaskFunc, RandomMaskFunc, mask_2d
    from mrirecon.data.synth import SimConfig, simulate_kspace
    from mrirecon.physics.fft import ifft2c

    k, _ = simulate_kspace(images, SimConfig(coils=coils, snr_db=snr, coil_radius=radius, seed=seed))
    clean_k, _ = simulate_kspace(images, SimConfig(coils=coils, snr_db=300.0, coil_radius=radius, seed=seed))
    cf = {4: 0.08, 8: 0.04}[R]
    mf = RandomMaskFunc([cf], [R]) if mask_kind == "random" else EquiSpacedMaskFunc([cf], [R])
    mask, _ = mask_2d(mf, k.shape, seed=1234)
    return k * (mask if coils == 1 else mask[None]), mask, ifft2c(clean_k)


def cell_operator(y, mask, coils):
    """The operator ``mrirecon reconstruct`` would build for a cell's data: SENSE with ESPIRiT maps from the ACS lines
    (single-coil: the mask alone), with the noise σ estimated from the k-space."""
    from mrirecon.physics import MultiCoilMRI, SingleCoilMRI
    from mrirecon.physics.coils import estimate_maps

    if coils > 1:
        op = MultiCoilMRI(mask, torch.stack([estimate_maps(y[i], mask[0])[0] for i in range(len(y))]))
    else:
        op = SingleCoilMRI(mask)
    return op.with_noise(op.estimate_noise(y))


def true_sigma(images, snr) -> float:
    """The complex noise σ ``data.synth.simulate`` adds at ``snr`` dB (the object's mean over 10 ** (snr / 20))."""
    return float(images[images > 0.1 * images.max()].mean()) / 10 ** (snr / 20)


def run_cell(images, coils, radius, snr, R, mask_kind, methods, nets, seed=0, slow=True, tag="", ccdf_options=None,
             unet_options=None, diffusion_options=None):
    from mrirecon.diffusion.schedule import item_generators
    from mrirecon.eval.metrics import evaluate_volume
    from mrirecon.physics.fft import rss
    from mrirecon.recon import ccdf, cs, dps, red_diff, unet, zero_filled

    y, mask, ci = simulate_cell(images, coils, radius, snr, R, mask_kind, seed)
    target = (rss(ci, 1) if coils > 1 else ci.abs()).numpy()
    op = cell_operator(y, mask, coils)
    gens = lambda: item_generators(seed, len(y))  # noqa: E731
    score = lambda x: evaluate_volume(target, x.abs().numpy())  # noqa: E731
    rows = {}

    def add(name, fn):
        t = time.time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = fn()
        m = score(x)
        rows[name] = {"PSNR": round(m["PSNR"], 3), "SSIM": round(m["SSIM"], 4), "s": round(time.time() - t, 2)}

    add("zero-filled", lambda: zero_filled.solve(op, y).image)
    if "cs" in methods:
        grid = {}
        for lam in LAMBDAS:
            m = score(cs.solve(op, y, options=cs.CSOptions(lamda=lam), generator=gens()).image)
            grid[lam] = m
        best = max(grid, key=lambda v: grid[v]["PSNR"])
        rows["cs best-grid"] = {"PSNR": round(grid[best]["PSNR"], 3), "SSIM": round(grid[best]["SSIM"], 4), "lamda": best}
        rows["cs 1e-3"] = {"PSNR": round(grid[1e-3]["PSNR"], 3), "SSIM": round(grid[1e-3]["SSIM"], 4)}
        add("cs auto", lambda: cs.solve(op, y, options=cs.CSOptions(lamda="auto"), generator=gens()).image)
    if "cs-sure" in methods:  # lamda of least GSURE risk per slice (recon.sure); auto where GSURE does not apply
        add("cs sure", lambda: cs.solve(op, y, options=cs.CSOptions(lamda="sure"), generator=gens()).image)
    net, prior = nets
    if "unet" in methods and not tag:
        add("unet+dc", lambda: unet.solve(op, y, net, options=unet.UNetOptions(final_dc="cg", dc_mu=0.02)).image)
    if "unet" in methods:
        add("unet+dc auto" + tag, lambda: unet.solve(op, y, net, options=unet.UNetOptions(final_dc="cg", dc_mu="auto")).image)
    if "unet" in methods or "unet-cv" in methods:  # the default: mu by k-space hold-out (noise rule for 1 coil)
        kw = {"final_dc": "cg", "dc_mu": "cv", **(unet_options or {})}
        add("unet+dc cv" + tag, lambda: unet.solve(op, y, net, options=unet.UNetOptions(**kw)).image)
    if "ccdf" in methods and not tag:
        add("ccdf", lambda: ccdf.solve(op, y, prior, init=net, generator=gens(),
                                       options=ccdf.CCDFOptions(dc_weight=0.05)).image)
    if "ccdf" in methods:
        kw = {"dc_weight": "auto", **(ccdf_options or {})}
        add("ccdf dc auto" + tag, lambda: ccdf.solve(op, y, prior, init=net, generator=gens(),
                                                     options=ccdf.CCDFOptions(**kw)).image)
    if "ccdf-estimate" in methods:  # the noise estimate alone behind the auto weight (before dc_noise=cv)
        add("ccdf dc estimate" + tag, lambda: ccdf.solve(op, y, prior, init=net, generator=gens(),
                                                         options=ccdf.CCDFOptions(dc_weight="auto", dc_noise="estimate")).image)
    if "diffusion" in methods:  # full reverse diffusion (100 steps unless --diffusion-options says otherwise)
        from mrirecon.recon import diffusion

        kw = {"steps": 100, **(diffusion_options or {})}
        add("diffusion" + tag, lambda: diffusion.solve(op, y, prior, generator=gens(),
                                                       options=diffusion.DiffusionOptions(**kw)).image)
    if "red-diff" in methods and slow:
        add("red-diff", lambda: red_diff.solve(op, y, prior, init=net, generator=gens(),
                                               options=red_diff.REDDiffOptions(obs_weight=1.0)).image)
    if "dcmodes" in methods:  # data-consistency variants at equal NFE (CCDF: 10 steps; full diffusion: 50)
        from mrirecon.recon import diffusion

        for label, kw in (("ccdf replace", dict(dc_mode="replace", dc_weight=1.0)),
                          ("ccdf prox 0.05", dict(dc_mode="prox", dc_weight=0.05)),
                          ("ccdf prox auto", dict(dc_mode="prox", dc_weight="auto")),
                          ("ccdf krylov 5", dict(dc_mode="krylov", dc_weight=0.0, dc_iters=5))):
            add(label, lambda kw=kw: ccdf.solve(op, y, prior, init=net, generator=gens(),
                                                options=ccdf.CCDFOptions(**kw)).image)
        for label, kw in (("diffusion-50 replace", dict(dc_mode="replace", dc_weight=1.0)),
                          ("diffusion-50 prox auto", dict(dc_mode="prox", dc_weight="auto")),
                          ("diffusion-50 krylov 5", dict(dc_mode="krylov", dc_weight=0.0, dc_iters=5))):
            add(label, lambda kw=kw: diffusion.solve(op, y, prior, generator=gens(),
                                                     options=diffusion.DiffusionOptions(steps=50, **kw)).image)
    if "dps" in methods:
        add("dps 50", lambda: dps.solve(op, y, prior, options=dps.DPSOptions(steps=50), generator=gens()).image)
        if "dps-paper" in methods:
            add("dps 50 paper", lambda: dps.solve(op, y, prior, generator=gens(),
                                                  options=dps.DPSOptions(steps=50, zeta=1.0, step="paper")).image)
    sig = op.noise_sigma
    return rows, {"sigma_est_over_true": round(float(sig.mean()) / true_sigma(images, snr), 3)}


def table(rows: list[dict], cols=None) -> str:
    cols = cols or ["zero-filled", "cs 1e-3", "cs best-grid", "cs auto", "unet+dc", "unet+dc auto", "ccdf",
                    "ccdf dc auto", "red-diff", "dps 50 paper", "dps 50"]
    head = "| contrast | SNR | coils | maps r | R | mask | σ̂/σ | " + " | ".join(cols) + " |"
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        m = r["methods"]
        out.append(f"| {r['contrast']} | {r['snr']} | {r['coils']} | {r['radius'] if r['coils'] > 1 else '–'} | {r['R']} | "
                   f"{r['mask']} | {r['sigma_est_over_true']} | "
                   + " | ".join(f"{m[c]['PSNR']:.2f} / {m[c]['SSIM']:.3f}" if c in m else "–" for c in cols) + " |")
    return "\n".join(out)


def targets(rows: list[dict]) -> str:
    """Issue 15's targets per cell: ✓ met, ✗ missed (by how much, dB)."""
    checks = [("cs auto ≥ best-grid − 0.5", lambda m, r: m["cs auto"]["PSNR"] - (m["cs best-grid"]["PSNR"] - 0.5)),
              ("unet+dc auto ≥ CS best", lambda m, r: m["unet+dc auto"]["PSNR"] - m["cs best-grid"]["PSNR"]),
              ("ccdf ≥ CS best + 1.0 / 0.5", lambda m, r: m["ccdf dc auto"]["PSNR"] - m["cs best-grid"]["PSNR"]
               - (1.0 if r["R"] == 4 else 0.5)),
              ("ccdf ≥ its U-Net", lambda m, r: m["ccdf dc auto"]["PSNR"] - m["unet+dc auto"]["PSNR"]),
              ("red-diff ≥ CS best", lambda m, r: m["red-diff"]["PSNR"] - m["cs best-grid"]["PSNR"]),
              ("dps ≥ zero-filled", lambda m, r: m["dps 50"]["PSNR"] - m["zero-filled"]["PSNR"])]
    lines = ["| target | met | missed cells (margin in dB) |", "|---|---|---|"]
    for name, fn in checks:
        met, missed = 0, []
        for r in rows:
            try:
                d = fn(r["methods"], r)
            except KeyError:
                continue
            if d >= 0:
                met += 1
            else:
                missed.append(f"{r['contrast']} {r['snr']:.0f}dB {r['coils']}c"
                              f"{'/r' + str(r['radius']) if r['coils'] > 1 else ''} R{r['R']} {r['mask'][:5]} ({d:+.2f})")
        total = met + len(missed)
        lines.append(f"| {name} | {met}/{total} | {'; '.join(missed[:12])}{' …' if len(missed) > 12 else ''} |")
    return "\n".join(lines)


def targets16(rows: list[dict], tag: str) -> str:
    """Issue 16's targets: the retrained U-Net + DC ≥ best-grid CS in every cell and ≥ the previous
    U-Net on average; CCDF with the new prior ≥ the new U-Net + 1.0 dB on average."""
    col = "unet+dc cv" if any(f"unet+dc cv{tag}" in r["methods"] for r in rows) else "unet+dc auto"
    rows = [r for r in rows if f"{col}{tag}" in r["methods"] and "cs best-grid" in r["methods"]]
    if not rows:
        return "no rows with both cs best-grid and the tagged columns"
    m = lambda r, k: r["methods"][k]["PSNR"]  # noqa: E731
    d_cs = [m(r, f"{col}{tag}") - m(r, "cs best-grid") for r in rows]
    missed = [f"{r['contrast']} {r['snr']:.0f}dB {r['coils']}c{'/r' + str(r['radius']) if r['coils'] > 1 else ''} "
              f"R{r['R']} {r['mask'][:5]} ({d:+.2f})" for r, d in zip(rows, d_cs) if d < 0]
    old = [r for r in rows if "unet+dc auto" in r["methods"]]  # the previous U-Net with the previous rule
    mean = lambda k, rs: float(np.mean([m(r, k) for r in rs]))  # noqa: E731
    lines = ["| target | result |", "|---|---|",
             f"| new U-Net + DC ≥ CS best-grid in every cell | {len(rows) - len(missed)}/{len(rows)} cells; missed: "
             f"{'; '.join(missed[:10])}{' …' if len(missed) > 10 else ''} |"]
    if old:
        lines.append(f"| new U-Net ≥ previous U-Net on average | {mean(f'{col}{tag}', old):.2f} vs "
                     f"{mean('unet+dc auto', old):.2f} dB ({len(old)} cells) |")
    cc = [r for r in rows if f"ccdf dc auto{tag}" in r["methods"]]
    if cc:
        lines.append(f"| new CCDF ≥ new U-Net + 1.0 dB on average | {mean(f'ccdf dc auto{tag}', cc):.2f} vs "
                     f"{mean(f'{col}{tag}', cc):.2f} + 1.0 dB ({len(cc)} cells) |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="data/prepared")
    p.add_argument("--snr", default="20,30,40,50")
    p.add_argument("--coils", default="1,8,15")
    p.add_argument("--radii", default="1.5,0.8", help="birdcage radii (relative to the FOV): two coil models")
    p.add_argument("--accelerations", default="4,8")
    p.add_argument("--masks", default="random,equispaced")
    p.add_argument("--contrasts", default="t1")
    p.add_argument("--slices", type=int, default=2)
    p.add_argument("--methods", default="cs,unet,ccdf,red-diff,dps")
    p.add_argument("--out", default="bench_out/robust/results.json")
    p.add_argument("--table", nargs="*", default=None, help="print the tables of these result files and exit")
    p.add_argument("--columns", default=None, help="with --table: the methods to show (comma-separated)")
    p.add_argument("--unet", default=None, help="U-Net weights folder (default: the shipped ones)")
    p.add_argument("--prior", default=None, help="prior weights folder (default: the shipped ones)")
    p.add_argument("--tag", default="", help="suffix of the unet / ccdf column names (e.g. ' new'): other weights, "
                                             "merged with earlier files by --table; rows of a tagged run need only "
                                             "zero-filled and the tagged columns")
    p.add_argument("--ccdf-t0", type=float, default=None, help="t0 of the 'ccdf dc auto' column (default: CCDF's)")
    p.add_argument("--unet-options", default=None,
                   help="KEY=VALUE,... of the 'unet+dc cv' column's UNetOptions (e.g. passes=2; with --tag)")
    p.add_argument("--ccdf-options", default=None,
                   help="more options of the 'ccdf dc auto' column, e.g. 'steps=20,t0=0.07' (default: CCDF's)")
    p.add_argument("--diffusion-options", default=None,
                   help="options of the 'diffusion' column (method diffusion; default steps=100), e.g. "
                        "'steps=100,spacing=quadratic'")
    p.add_argument("--issue16", action="store_true", help="with --table: issue 16's targets for the columns tagged --tag")
    a = p.parse_args()
    if a.table is not None:
        merged: dict = {}  # files may hold other methods of the same cells: merge them
        for f in a.table:
            for r in json.loads(Path(f).read_text()):
                key = (r["contrast"], r["snr"], r["coils"], r["radius"], r["R"], r["mask"])
                if key in merged:
                    merged[key]["methods"].update(r["methods"])
                else:
                    merged[key] = r
        rows = list(merged.values())
        print(table(rows, a.columns.split(",") if a.columns else None))
        if a.issue16:
            print()
            print(targets16(rows, a.tag))
        elif not a.columns:
            print()
            print(targets(rows))
        return
    torch.set_num_threads(1)
    from mrirecon.diffusion.prior import DiffusionPrior
    from mrirecon.models import load_model
    from mrirecon.recon.ccdf import CCDFOptions
    from mrirecon.recon.unet import UNetOptions
    from mrirecon.recon.options import parse_assignments
    from mrirecon.resources import weights_dir

    from mrirecon.recon.diffusion import DiffusionOptions

    def checked(text, cls, **extra):  # KEY=VALUE,... -> options dict; a bad option fails here, before any cell runs
        opts = {**extra, **parse_assignments(text)}
        cls(**opts)
        return opts

    ccdf_options = checked(a.ccdf_options, CCDFOptions, **({} if a.ccdf_t0 is None else {"t0": a.ccdf_t0}))
    unet_options = checked(a.unet_options, UNetOptions)
    diffusion_options = checked(a.diffusion_options, DiffusionOptions)
    nets = (load_model(a.unet or weights_dir("unet")), DiffusionPrior.load(a.prior or weights_dir("prior")))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(out.read_text()) if out.exists() else []
    done = {(r["contrast"], r["snr"], r["coils"], r["radius"], r["R"], r["mask"]) for r in rows}
    methods = a.methods.split(",")
    for contrast in a.contrasts.split(","):
        imgs = slices(a.data, a.slices, contrast)
        for snr in (float(s) for s in a.snr.split(",")):
            for coils in (int(c) for c in a.coils.split(",")):
                for radius in ([float(r) for r in a.radii.split(",")] if coils > 1 else [0.0]):
                    for R in (int(r) for r in a.accelerations.split(",")):
                        for mk in a.masks.split(","):
                            key = (contrast, snr, coils, radius, R, mk)
                            if key in done:
                                continue
                            t = time.time()
                            slow = mk == "random" and radius in (0.0, float(a.radii.split(",")[0]))
                            m, extra = run_cell(imgs, coils, radius or 1.2, snr, R, mk, methods, nets, slow=slow,
                                                tag=a.tag, ccdf_options=ccdf_options, unet_options=unet_options,
                                                diffusion_options=diffusion_options)
                            rows.append({"contrast": contrast, "snr": snr, "coils": coils, "radius": radius, "R": R,
                                         "mask": mk, "methods": m, **extra, "seconds": round(time.time() - t, 1)})
                            out.write_text(json.dumps(rows, indent=1))
                            best = m.get("cs best-grid", {}).get("PSNR", float("nan"))
                            print(f"{key}: cs-best {best:.2f} " + " ".join(f"{k} {v['PSNR']:.2f}" for k, v in m.items()),
                                  flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
