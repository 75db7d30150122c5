"""The ``mrirecon`` command line. Parses arguments and calls the layers below; no numerics here."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

DEMO_FILE = Path(__file__).resolve().parents[1] / "demo" / "demo_brain_multicoil.h5"


def _floats(s):
    return tuple(float(v) for v in str(s).split(","))


def _ints(s):
    return tuple(int(v) for v in str(s).split(","))


def _strs(s):
    return tuple(v for v in str(s).split(",") if v)


def add_recon_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("undersampling (fastMRI spelling)")
    g.add_argument("--challenge", choices=["singlecoil", "multicoil"], default=None,
                   help="expected data type (default: from each file)")
    g.add_argument("--mask-type", default="random",
                   choices=["random", "equispaced", "equispaced_fraction", "magic", "magic_fraction", "gaussian",
                            "poisson"])
    g.add_argument("--accelerations", type=_ints, default=(4,), help="e.g. 4 or 4,8")
    g.add_argument("--center-fractions", type=_floats, default=(0.08,), help="e.g. 0.08 or 0.08,0.04")
    g.add_argument("--ignore-file-mask", action="store_true", help="mask files that carry their own mask anyway")
    s = p.add_argument_group("solver")
    s.add_argument("--method", default="zero-filled")
    s.add_argument("--weights", default=None, help="network folder (config.json + model.safetensors)")
    s.add_argument("--unet-weights", default=None, help="U-Net initializer folder for ccdf / red-diff")
    s.add_argument("--t0", default=None, help="CCDF start fraction t0 (e.g. 0.1) or 'auto'")
    s.add_argument("--steps", type=int, default=None, help="sampler steps / optimisation iterations")
    s.add_argument("--lamda", type=float, default=None, help="regularisation weight (CS, RED-diff)")
    s.add_argument("--lr", type=float, default=None, help="RED-diff Adam learning rate")
    s.add_argument("--eta", type=float, default=None, help="DDIM eta (0 deterministic, 1 ancestral)")
    s.add_argument("--dc", default=None, choices=["x0", "xt"],
                   help="diffusion / CCDF data consistency on the denoised x0 or on x_t (noised measurement)")
    s.add_argument("--dc-mode", default=None, choices=["replace", "soft", "prox"],
                   help="consistency map: replace measured samples, soft step, or prox (CG, uses coil redundancy)")
    s.add_argument("--dc-weight", type=float, default=None, help="soft: step in (0,1]; prox: mu > 0")
    s.add_argument("--final-dc", default=None, choices=["none", "replace", "cg", "auto"],
                   help="U-Net: data consistency after the network (cg: argmin |Ax-y|^2 + mu|x-U|^2)")
    s.add_argument("--max-iter", type=int, default=None, help="CS iterations")
    s.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="any other field of the method's options, e.g. -o zeta=3 (DPS), -o init=unet (RED-diff); "
                        "repeatable")
    s.add_argument("--samples", type=int, default=1, help="samples per slice (mean and std map)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    s.add_argument("--batch-size", type=int, default=4, help="slices per solver call")


def recon_config(a):
    from mrirecon.cli.batch import ReconConfig
    from mrirecon.cli.methods import parse_option

    t0 = a.t0
    if t0 is not None and t0 != "auto":
        t0 = float(t0)
    return ReconConfig(method=a.method, challenge=a.challenge, mask_type=a.mask_type,
                       accelerations=a.accelerations, center_fractions=a.center_fractions,
                       use_file_mask=not a.ignore_file_mask, batch_size=a.batch_size, seed=a.seed, device=a.device,
                       weights=a.weights, unet_weights=a.unet_weights, samples=a.samples, t0=t0, steps=a.steps,
                       lamda=a.lamda, lr=a.lr, eta=a.eta, dc=a.dc, dc_mode=a.dc_mode,
                       dc_weight=a.dc_weight, final_dc=a.final_dc, max_iter=a.max_iter,
                       options=dict(parse_option(o) for o in getattr(a, "option", [])),
                       save=getattr(a, "save", ()), overwrite=getattr(a, "overwrite", False))


# ---------------------------------------------------------------- reconstruct
def cmd_reconstruct(a) -> int:
    from mrirecon.cli.batch import run_batch
    from mrirecon.cli.distributed import dist_context
    from mrirecon.cli.methods import make_solver

    cfg = recon_config(a)
    with dist_context(cfg.device) as (rank, world, device):
        if device is not None:
            cfg.device = device
        solver, info = make_solver(cfg)
        res = run_batch(Path(a.input), Path(a.output), solver, cfg, rank=rank, world=world, run_info=info)
        failed = _merge_failures(Path(a.output), res, rank, world)
    if rank == 0:
        print(f"{len(res['done'])} reconstructed, {len(res['skipped'])} skipped (already done), "
              f"{len(failed) if failed is not None else len(res['failed'])} failed -> {a.output}")
    n_failed = len(failed) if failed is not None else len(res["failed"])
    return 1 if n_failed else 0


def _merge_failures(out: Path, res, rank, world):
    if world == 1:
        return res["failed"]
    from mrirecon.cli.distributed import barrier
    from mrirecon.io.atomic import atomic_path

    barrier()
    allf = []
    if rank == 0:
        for r in range(world):
            p = out / f"failures.rank{r}.json"
            if p.exists():
                allf += json.loads(p.read_text())
        with atomic_path(out / "failures.json") as tmp:
            Path(tmp).write_text(json.dumps(allf, indent=2))
    barrier()
    return json.loads((out / "failures.json").read_text())


# ---------------------------------------------------------------- evaluate
def cmd_evaluate(a) -> int:
    from mrirecon.eval.evaluate import evaluate_dirs, format_summary

    res = evaluate_dirs(a.target_path, a.predictions_path, a.challenge, a.acquisition,
                        out_csv=a.out_csv or Path(a.predictions_path) / "metrics.csv",
                        out_json=a.out_json or Path(a.predictions_path) / "metrics.json")
    for r in res["volumes"]:
        print(f"{r['file']}: NMSE {r['NMSE']:.4f}  PSNR {r['PSNR']:.2f}  SSIM {r['SSIM']:.4f}")
    if res["missing"]:
        print(f"missing predictions for {len(res['missing'])} targets: {', '.join(res['missing'][:5])}")
    if not res["volumes"]:
        print("no volumes evaluated", file=sys.stderr)
        return 1
    print(format_summary(res["summary"]))
    return 0


# ---------------------------------------------------------------- sweep
DEFAULT_CF = {2: 0.16, 4: 0.08, 6: 0.06, 8: 0.04, 12: 0.03, 16: 0.02}


def cmd_sweep(a) -> int:
    import h5py
    import numpy as np

    from mrirecon.cli.batch import run_batch
    from mrirecon.cli.methods import make_solver
    from mrirecon.eval.evaluate import evaluate_dirs
    from mrirecon.eval.report import plot_grid, write_report

    out = Path(a.out)
    cfs = a.center_fractions or tuple(DEFAULT_CF.get(r, round(0.32 / r, 3)) for r in a.accelerations)
    if len(cfs) != len(a.accelerations):
        print("error: give one centre fraction per acceleration", file=sys.stderr)
        return 2
    rows, grids, failed = [], {}, 0
    base = recon_config(a)
    for acc, cf in zip(a.accelerations, cfs):
        slices = {}
        for m in a.methods:
            cfg = dataclasses_replace(base, method=m, accelerations=(acc,), center_fractions=(cf,))
            rdir = out / "recons" / f"{m}_R{acc}"
            solver, info = make_solver(cfg)
            res = run_batch(Path(a.data), rdir, solver, cfg, run_info=info)
            failed += len(res["failed"])
            ev = evaluate_dirs(a.data, rdir, out_csv=rdir / "metrics.csv", out_json=rdir / "metrics.json")
            timings = json.loads((rdir / "timings.json").read_text()) if (rdir / "timings.json").exists() else []
            sps = [t["seconds_per_slice"] for t in timings]
            sm = ev["summary"]
            if not sm:
                continue
            rows.append({"method": m, "acceleration": acc, "center_fraction": cf, "volumes": len(ev["volumes"]),
                         "PSNR": sm["PSNR"]["mean"], "PSNR_std": sm["PSNR"]["std"], "SSIM": sm["SSIM"]["mean"],
                         "SSIM_std": sm["SSIM"]["std"], "NMSE": sm["NMSE"]["mean"],
                         "seconds_per_slice": float(np.mean(sps)) if sps else float("nan")})
            first = ev["volumes"][0]["file"]
            with h5py.File(rdir / first) as hf:
                rec = np.asarray(hf["reconstruction"][()])
            slices[m] = rec[len(rec) // 2]
            print(f"R={acc} {m}: PSNR {sm['PSNR']['mean']:.2f} SSIM {sm['SSIM']['mean']:.4f}", flush=True)
        if slices:
            from mrirecon.io import FastMRIFile

            tgt = FastMRIFile(Path(a.data) / first).volume_target()
            t = tgt[len(tgt) // 2]
            h, w = next(iter(slices.values())).shape
            th, tw = t.shape
            t = t[(th - h) // 2:(th - h) // 2 + h, (tw - w) // 2:(tw - w) // 2 + w]
            name = f"grid_R{acc}.png"
            grids[name] = plot_grid(t, slices, f"{first}, middle slice, R={acc}", out / name)
    report = write_report(rows, grids, out, meta={"data": str(a.data), "methods": list(a.methods),
                                                  "accelerations": list(a.accelerations), "center_fractions": list(cfs)})
    from mrirecon.eval.report import markdown_table

    print(markdown_table(rows))
    print(f"report: {report}")
    return 1 if failed else 0


def dataclasses_replace(obj, **kw):
    import dataclasses

    return dataclasses.replace(obj, **kw)


# ---------------------------------------------------------------- demo
def cmd_demo(a) -> int:
    import tempfile

    from mrirecon.cli.batch import ReconConfig, reconstruct_file, resolve_device
    from mrirecon.cli.methods import default_weights, make_solver
    from mrirecon.eval.metrics import evaluate_volume
    from mrirecon.io import FastMRIFile
    import h5py
    import numpy as np

    path = Path(a.file) if a.file else DEMO_FILE
    f = FastMRIFile(path)
    target = f.volume_target()
    methods = list(a.methods) if a.methods else ["zero-filled", "cs"]
    if not a.methods:
        if (default_weights("unet") / "config.json").exists():
            methods.append("unet")
        if (default_weights("prior") / "config.json").exists() and "unet" in methods:
            methods.append("ccdf")
    print(f"demo file: {path.name}  ({f.num_slices} slices, {f.num_coils} coils, k-space {f.kspace_shape[-2:]})")
    rows = []
    with tempfile.TemporaryDirectory() as td:
        for acc, cf in zip(a.accelerations, a.center_fractions):
            for m in methods:
                cfg = ReconConfig(method=m, accelerations=(acc,), center_fractions=(cf,), device=a.device, seed=0)
                solver, _ = make_solver(cfg)
                out = Path(td) / f"R{acc}_{m}"
                out.mkdir()
                t = time.time()
                reconstruct_file(path, out, solver, cfg, resolve_device(a.device))
                dt = time.time() - t
                with h5py.File(out / path.name) as hf:
                    rec = np.asarray(hf["reconstruction"][()])
                met = evaluate_volume(target, rec)
                rows.append((acc, m, met["PSNR"], met["SSIM"], met["NMSE"], dt / f.num_slices))
                print(f"  R={acc:<2d} {m:<12s} PSNR {met['PSNR']:6.2f} dB  SSIM {met['SSIM']:.4f}  "
                      f"NMSE {met['NMSE']:.4f}  {dt / f.num_slices:6.2f} s/slice", flush=True)
    print("\n| R | method | PSNR (dB) | SSIM | NMSE | s/slice |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.4f} | {r[4]:.4f} | {r[5]:.2f} |")
    return 0


# ---------------------------------------------------------------- data
def cmd_data_prepare(a) -> int:
    from mrirecon.data.prepare import PrepareConfig, prepare

    s = prepare(PrepareConfig(out=Path(a.out), cache=Path(a.cache), size=a.size), progress=lambda n: print(f"  {n}"))
    print(f"train: {s['train_slices']} slices from {s['train_sources']} ({s['train_bytes'] / 1e6:.1f} MB); "
          f"val: {s['val_slices']} slices from {s['val_sources']} ({s['val_bytes'] / 1e6:.1f} MB); "
          f"{s['seconds']} s -> {a.out}")
    return 0


def cmd_data_simulate(a) -> int:
    from mrirecon.data.prepare import load_split
    from mrirecon.data.synth import SimConfig, simulate_dataset

    images = load_split(a.data, a.split, a.size)
    if a.orientation:
        import numpy as np

        with np.load(Path(a.data) / f"{a.split}_{a.size}.npz") as z:
            images = images[z["orientation"] == a.orientation]
    cfg = SimConfig(coils=a.coils, snr_db=a.snr, readout_oversampling=a.oversampling, seed=a.seed)
    paths = simulate_dataset(images, a.out, n_files=a.n_files, slices_per_file=a.slices, cfg=cfg, prefix=a.prefix,
                             progress=lambda p: print(f"  {p}"))
    print(f"wrote {len(paths)} files to {a.out}")
    return 0


def cmd_data_check(a) -> int:
    from mrirecon.data.specs import check_dir

    ok, report = check_dir(a.dir, a.spec)
    print(report)
    return 0 if ok else 1


# ---------------------------------------------------------------- train
def cmd_train(a, rest) -> int:
    import runpy

    script = Path(__file__).resolve().parents[2] / "scripts" / f"train_{a.what}.py"
    if not script.exists():
        print(f"no training script {script}", file=sys.stderr)
        return 2
    sys.argv = [str(script)] + rest
    runpy.run_path(str(script), run_name="__main__")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mrirecon", description="Accelerated MRI reconstruction with diffusion models")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("reconstruct", help="reconstruct a fastMRI .h5 file or a folder of them")
    r.add_argument("input")
    r.add_argument("output")
    add_recon_options(r)
    r.add_argument("--save", type=_strs, default=(), help="extra outputs: nifti,png")
    r.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    r.set_defaults(func=cmd_reconstruct)

    e = sub.add_parser("evaluate", help="fastMRI metrics of predictions against targets")
    e.add_argument("--target-path", required=True)
    e.add_argument("--predictions-path", required=True)
    e.add_argument("--challenge", choices=["singlecoil", "multicoil"], default=None)
    e.add_argument("--acquisition", default=None)
    e.add_argument("--out-csv", default=None)
    e.add_argument("--out-json", default=None)
    e.set_defaults(func=cmd_evaluate)

    sw = sub.add_parser("sweep", help="reconstruct + evaluate every (method, acceleration); CSV, plots, HTML report")
    sw.add_argument("data", help="folder of fastMRI .h5 files with targets")
    sw.add_argument("--methods", type=_strs, required=True, help="e.g. zero-filled,cs,unet,ccdf")
    sw.add_argument("--out", required=True)
    add_recon_options(sw)
    sw.set_defaults(func=cmd_sweep, center_fractions=None, accelerations=(4, 8), overwrite=False, save=())
    sw.add_argument("--overwrite", action="store_true")

    d = sub.add_parser("demo", help="reconstruct the bundled demo file at R=4 and R=8 and print a table")
    d.add_argument("--file", default=None)
    d.add_argument("--methods", type=_strs, default=None)
    d.add_argument("--accelerations", type=_ints, default=(4, 8))
    d.add_argument("--center-fractions", type=_floats, default=(0.08, 0.04))
    d.add_argument("--device", default="auto")
    d.set_defaults(func=cmd_demo)

    da = sub.add_parser("data", help="prepare, simulate and check data").add_subparsers(dest="data_cmd", required=True)
    pp = da.add_parser("prepare", help="build train/val slices from the packaged T1 volumes")
    pp.add_argument("--out", default="data/prepared")
    pp.add_argument("--cache", default="cache/sources")
    pp.add_argument("--size", type=int, default=128)
    pp.set_defaults(func=cmd_data_prepare)
    ps = da.add_parser("simulate", help="write fastMRI-style k-space files from prepared slices")
    ps.add_argument("--data", default="data/prepared")
    ps.add_argument("--split", default="val", choices=["train", "val"])
    ps.add_argument("--size", type=int, default=128)
    ps.add_argument("--orientation", default="axial", choices=["axial", "coronal", "sagittal", ""])
    ps.add_argument("--out", required=True)
    ps.add_argument("--n-files", type=int, default=4)
    ps.add_argument("--slices", type=int, default=8)
    ps.add_argument("--coils", type=int, default=8, help="0 or 1 for single-coil")
    ps.add_argument("--snr", type=float, default=30.0)
    ps.add_argument("--oversampling", type=int, default=1)
    ps.add_argument("--seed", type=int, default=0)
    ps.add_argument("--prefix", default="sim")
    ps.set_defaults(func=cmd_data_simulate)
    pc = da.add_parser("check", help="validate every .h5 file of a folder against a data spec")
    pc.add_argument("dir")
    pc.add_argument("--spec", required=True)
    pc.set_defaults(func=cmd_data_check)

    from mrirecon.cli.sr import add_parser as add_sr

    add_sr(sub)

    t = sub.add_parser("train", help="train a network (runs scripts/train_<what>.py; options after it)")
    t.add_argument("what", choices=["prior", "unet", "sr3"])
    t.set_defaults(func=None)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = build_parser()
    if argv[:1] == ["train"] and len(argv) >= 2 and not argv[1].startswith("-"):
        a = p.parse_args(argv[:2])  # the rest belongs to the training script
        return cmd_train(a, argv[2:])
    a = p.parse_args(argv)
    try:
        return a.func(a)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
