"""CCDF: PSNR/SSIM vs t0 and vs NFE against the initializer, CS and full reverse diffusion.

    python benchmarks/bench_ccdf.py --kind singlecoil --files 2 --slices 4 --t0 0.02,0.05,0.1,0.2,0.3,0.5,1.0 \
        --nfe 5,10,20 --full-nfe 1000 --out bench_out/ccdf

For each R: the U-Net alone, CS, full reverse diffusion (``--full-nfe`` steps from pure noise),
CCDF at every t0 with ``--nfe-at-t0`` steps (strided DDIM subset, η as given; "all" = every step),
CCDF at ``--nfe-t0`` with every NFE of ``--nfe``, and t0="auto". Writes results.json and
``ccdf_curves.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import md_table, make_config, run_config, save_json, validation_files  # noqa: E402

from mrirecon.recon.ccdf import auto_t0, nfe  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--kind", default="singlecoil")
    p.add_argument("--accelerations", default="4,8")
    p.add_argument("--files", type=int, default=2)
    p.add_argument("--slices", type=int, default=4)
    p.add_argument("--t0", default="0.02,0.05,0.1,0.2,0.3,0.5,1.0")
    p.add_argument("--nfe-at-t0", default="20", help="steps for the t0 sweep ('all' = every timestep)")
    p.add_argument("--nfe", default="2,5,10,20,50")
    p.add_argument("--nfe-t0", type=float, default=0.1)
    p.add_argument("--eta", type=float, default=1.0)
    p.add_argument("--full-nfe", type=int, default=1000)
    p.add_argument("--skip-full", action="store_true")
    p.add_argument("--dc-compare", action="store_true", help="also run CCDF with dc=x0 and dc=xt")
    p.add_argument("--data-root", default="bench_out/data")
    p.add_argument("--out", default="bench_out/ccdf")
    a = p.parse_args()
    from mrirecon.pipeline.solvers import load_network, load_prior

    sched = load_prior().schedule
    meta = load_network("unet").meta
    eps0_of = lambda acc: (meta.get("eps0") or {}).get(f"R{acc}", meta.get("eps0_mean"))  # noqa: E731
    data = validation_files(Path(a.data_root), a.kind, a.files, a.slices)
    rows = []

    def run(label, method, acc, **kw):
        cfg = make_config(method, acc, batch_size=8, **kw)
        r = run_config(label, data, Path(a.out) / f"R{acc}", cfg)
        r.update(data=a.kind, **{k: v for k, v in kw.items() if k in ("t0", "steps")})
        if r.get("t0") == "auto":
            r["t0_auto"] = auto_t0(sched, eps0_of(acc))
        r["nfe"] = (1 + nfe(sched, r["t0"] if isinstance(r.get("t0"), float) else r.get("t0_auto", 1.0), kw.get("steps"))
                    if method == "ccdf" else {"unet": 1, "diffusion": kw.get("steps"), "cs": 0}.get(method, 0))
        rows.append(r)
        print(f"R={acc} {label}: PSNR {r['PSNR']:.2f} SSIM {r['SSIM']:.4f} NFE {r['nfe']} {r['s_per_slice']:.2f} s/slice",
              flush=True)
        save_json(rows, Path(a.out) / "results.json")

    steps_t0 = None if a.nfe_at_t0 == "all" else int(a.nfe_at_t0)
    for acc in (int(x) for x in a.accelerations.split(",")):
        run("unet", "unet", acc)
        run("cs", "cs", acc)
        for t0 in (float(x) for x in a.t0.split(",")):
            run(f"ccdf t0={t0}", "ccdf", acc, t0=t0, steps=steps_t0, eta=a.eta)
        for n in (int(x) for x in a.nfe.split(",")):
            run(f"ccdf t0={a.nfe_t0} nfe={n}", "ccdf", acc, t0=a.nfe_t0, steps=n, eta=a.eta)
        if eps0_of(acc) is not None:
            run(f"ccdf t0=auto({auto_t0(sched, eps0_of(acc)):.3f})", "ccdf", acc, t0="auto", steps=steps_t0, eta=a.eta)
        if a.dc_compare:
            for dc in ("x0", "xt"):
                run(f"ccdf t0={a.nfe_t0} dc={dc}", "ccdf", acc, t0=a.nfe_t0, steps=steps_t0, eta=a.eta, dc=dc)
        if not a.skip_full:
            run(f"full diffusion nfe={a.full_nfe}", "diffusion", acc, steps=a.full_nfe, eta=a.eta)
    print(md_table(rows, extra=("nfe",)))
    plot(rows, Path(a.out) / "ccdf_curves.png", a.nfe_t0)


def plot(rows, path, nfe_t0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for acc in sorted({r["R"] for r in rows}):
        rs = [r for r in rows if r["R"] == acc]
        t0r = sorted((r for r in rs if r["method"] == "ccdf" and isinstance(r.get("t0"), float) and "nfe=" not in r["label"]
                      and "dc=" not in r["label"]),
                     key=lambda r: r["t0"])
        line, = axes[0].plot([r["t0"] for r in t0r], [r["PSNR"] for r in t0r], "o-", label=f"CCDF R={acc}")
        for ref, style in (("unet", "--"), ("cs", ":")):
            rr = [r for r in rs if r["method"] == ref]
            if rr:
                axes[0].axhline(rr[0]["PSNR"], color=line.get_color(), ls=style, lw=1, label=f"{ref} R={acc}")
        full = [r for r in rs if r["method"] == "diffusion"]
        if full:
            axes[0].axhline(full[0]["PSNR"], color=line.get_color(), ls="-.", lw=1, label=f"full diffusion R={acc}")
        auto = [r for r in rs if "auto" in r["label"]]
        if auto:
            axes[0].plot([auto[0]["t0_auto"]], [auto[0]["PSNR"]], "*", ms=12, color=line.get_color(), label=f"t0=auto R={acc}")
        nr = sorted((r for r in rs if "nfe=" in r["label"] and r["method"] == "ccdf"), key=lambda r: r["nfe"])
        axes[1].plot([r["nfe"] for r in nr], [r["PSNR"] for r in nr], "o-", color=line.get_color(), label=f"CCDF t0={nfe_t0} R={acc}")
        if full:
            axes[1].plot([full[0]["nfe"]], [full[0]["PSNR"]], "s", color=line.get_color(), label=f"full diffusion R={acc}")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("t0")
    axes[0].set_ylabel("PSNR (dB)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("network evaluations (NFE)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
