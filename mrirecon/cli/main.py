"""The ``mrirecon`` command line: argument parsing only; the work is done by ``mrirecon.pipeline``,
``mrirecon.data``, ``mrirecon.eval`` and ``mrirecon.train``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mrirecon.cli.options import add_method_flags, describe_methods, method_options, sweep_options
from mrirecon.help_format import Parser

EXAMPLES = {
    "reconstruct": "example: mrirecon reconstruct sim/ out/ --method ccdf --accelerations 4 --center-fractions 0.08",
    "sweep": "example: mrirecon sweep sim/ --methods zero-filled,cs,unet,ccdf --accelerations 4,8 --out report/",
    "sr": "examples: mrirecon sr lowres.nii.gz --scale 4 --method sr3 --out sr.nii.gz\n"
          "          mrirecon sr thick_slices.nii.gz --axis slice --method ccdf --out iso.nii.gz",
}


def _floats(s):
    return tuple(float(v) for v in str(s).split(","))


def _ints(s):
    return tuple(int(v) for v in str(s).split(","))


def _strs(s):
    return tuple(v for v in str(s).split(",") if v)


def add_sampling_flags(p: argparse.ArgumentParser, accelerations=(4,), center_fractions=(0.08,)) -> None:
    from mrirecon.pipeline.config import MASK_TYPES

    g = p.add_argument_group("undersampling (fastMRI spelling)")
    g.add_argument("--challenge", choices=["singlecoil", "multicoil"], default=None,
                   help="expected data type (default: from each file)")
    g.add_argument("--mask-type", default="random", choices=MASK_TYPES, help="mask family (default: %(default)s)")
    g.add_argument("--accelerations", type=_ints, default=accelerations, help="e.g. 4 or 4,8 (default: %(default)s)")
    g.add_argument("--center-fractions", type=_floats, default=center_fractions,
                   help="e.g. 0.08 or 0.08,0.04 (default: " + ("%(default)s" if center_fractions else
                        "per acceleration as fastMRI: 0.08 at R=4, 0.04 at R=8, about 0.32/R otherwise") + ")")
    g.add_argument("--ignore-file-mask", action="store_true", help="mask files that carry their own mask anyway")
    r = p.add_argument_group("run")
    r.add_argument("--weights", default=None, help="network folder of the method (default: the shipped weights)")
    r.add_argument("--unet-weights", default=None, help="U-Net initializer folder for ccdf / red-diff")
    r.add_argument("--seed", type=int, default=0, help="slice i draws its noise from seed + i (default: 0)")
    r.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="(default: %(default)s)")
    r.add_argument("--batch-size", type=int, default=4, help="slices per solver call (default: %(default)s)")


def recon_config(a, method: str | None = None, options: dict | None = None):
    from mrirecon.pipeline.config import ReconConfig

    return ReconConfig(method=method or a.method, options=options or {}, challenge=a.challenge,
                       mask_type=a.mask_type, accelerations=a.accelerations, center_fractions=a.center_fractions,
                       use_file_mask=not a.ignore_file_mask, batch_size=a.batch_size, seed=a.seed, device=a.device,
                       weights=a.weights, unet_weights=a.unet_weights, save=getattr(a, "save", ()),
                       overwrite=getattr(a, "overwrite", False))


# ---------------------------------------------------------------- commands
def cmd_reconstruct(a) -> int:
    from mrirecon.pipeline.batch import check_output_location, list_inputs, run_batch
    from mrirecon.pipeline.distributed import dist_context, merge_results
    from mrirecon.pipeline.solvers import build_solver

    cfg = recon_config(a, options=method_options(a))
    list_inputs(Path(a.input))  # usage errors (missing input, refused output) before any work
    check_output_location(Path(a.input), Path(a.output))
    with dist_context(cfg.device) as (rank, world, device):
        if device is not None:
            cfg.device = device
        solver = build_solver(cfg.method, cfg.options, weights=cfg.weights, unet_weights=cfg.unet_weights,
                              device=cfg.device)
        res = merge_results(Path(a.output), run_batch(Path(a.input), Path(a.output), solver, cfg, rank=rank,
                                                      world=world), rank, world)
    if rank == 0:
        print(f"{len(res['done'])} reconstructed, {len(res['skipped'])} skipped (already done), "
              f"{len(res['failed'])} failed -> {a.output}")
    return 1 if res["failed"] else 0


def cmd_evaluate(a) -> int:
    from mrirecon.eval.evaluate import evaluate_dirs, format_summary, metrics_stem

    stem = metrics_stem(a.reference)
    res = evaluate_dirs(a.target_path, a.predictions_path, a.challenge, a.acquisition,
                        out_csv=a.out_csv or Path(a.predictions_path) / f"{stem}.csv",
                        out_json=a.out_json or Path(a.predictions_path) / f"{stem}.json", reference=a.reference)
    for r in res["volumes"]:
        print(f"{r['file']}: NMSE {r['NMSE']:.4f}  PSNR {r['PSNR']:.2f}  SSIM {r['SSIM']:.4f}")
    if res["missing"]:
        print(f"missing predictions for {len(res['missing'])} targets: {', '.join(res['missing'][:5])}", file=sys.stderr)
    for f in res["failed"]:
        print(f"error: {f['error']}", file=sys.stderr)
    if not res["volumes"]:
        print("no volumes evaluated", file=sys.stderr)
        return 1
    print(format_summary(res["summary"]))
    return 1 if res["failed"] else 0


def cmd_sweep(a) -> int:
    from mrirecon.pipeline.sweep import default_center_fractions, run_sweep

    cfs = a.center_fractions or default_center_fractions(a.accelerations)
    if len(cfs) != len(a.accelerations):
        raise ValueError("give one centre fraction per acceleration")
    a.center_fractions = cfs
    per_method = sweep_options(a, a.methods)
    res = run_sweep(a.data, a.out, list(a.methods), recon_config(a, method=a.methods[0]), per_method,
                    reference=a.reference)
    print(f"report: {res['report']}")
    return 1 if res["failed"] else 0


def cmd_demo(a) -> int:
    from mrirecon.pipeline.demo import run_demo

    run_demo(a.file, a.methods, a.accelerations, a.center_fractions, a.device)
    return 0


def cmd_methods(a) -> int:
    print(describe_methods(a.task))
    return 0


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

    images = load_split(a.data, a.split, a.size, orientation=a.orientation or None)
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


def _each_file(paths, fn, what: str) -> int:
    """Run ``fn`` on every path; a bad file is one line on stderr and the rest goes on (exit 1 at the end)."""
    failed = 0
    for p in paths:
        try:
            print(f"{p} -> {fn(Path(p))}")
        except (OSError, ValueError, RuntimeError) as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
    if failed:
        print(f"{failed} of {len(paths)} {what} failed", file=sys.stderr)
    return 1 if failed else 0


def cmd_data_convert(a) -> int:
    from mrirecon.data.convert import convert

    return _each_file(a.inputs, lambda p: convert(p, a.out, overwrite=a.overwrite), "conversions")


def cmd_export_dicom(a) -> int:
    from mrirecon.pipeline.export import export_dicom

    return _each_file(a.inputs, lambda p: export_dicom(p, Path(a.out) / (p.stem + "_dicom"), overwrite=a.overwrite),
                      "exports")


def cmd_sr(a) -> int:
    from mrirecon.pipeline.sr import super_resolve_file

    opts = method_options(a, task="sr")
    shp_in, shp_out, what = super_resolve_file(a.input, a.out, a.scale, a.method, opts, weights=a.weights,
                                               unet_weights=a.unet_weights, seed=a.seed, device=a.device, axis=a.axis,
                                               degradation=a.degradation, progress=not a.quiet,
                                               adapt_steps=a.adapt_steps)
    print(f"{Path(a.input).name}: {shp_in} -> {shp_out} ({what}, {a.method}, {a.degradation}) -> {a.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    import mrirecon
    from mrirecon.io.fastmri import REFERENCES

    p = Parser(prog="mrirecon", description="Accelerated MRI reconstruction with diffusion models")
    p.add_argument("--version", action="version", version=f"mrirecon {mrirecon.__version__}")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--debug", action="store_true", help="print tracebacks of errors")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("reconstruct", help="reconstruct a fastMRI .h5 file or a folder of them",
                       epilog=EXAMPLES["reconstruct"])
    r.add_argument("input", help="fastMRI .h5 file or folder")
    r.add_argument("output", help="output folder")
    add_sampling_flags(r)
    add_method_flags(r, "mri")
    r.add_argument("--save", type=_strs, default=(), help="extra outputs: nifti,png,dicom (a DICOM series per file)")
    r.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    r.set_defaults(func=cmd_reconstruct)

    e = sub.add_parser("evaluate", help="fastMRI metrics of predictions against targets")
    e.add_argument("--target-path", required=True)
    e.add_argument("--predictions-path", required=True)
    e.add_argument("--challenge", choices=["singlecoil", "multicoil"], default=None)
    e.add_argument("--acquisition", default=None)
    e.add_argument("--out-csv", default=None)
    e.add_argument("--out-json", default=None)
    e.add_argument("--reference", choices=REFERENCES, default="file",
                   help="file: fastMRI's target (made from the noisy k-space); noiseless: a simulated file's target "
                        "without the noise (reconstruction_noiseless; written to metrics_noiseless.csv / .json)")
    e.set_defaults(func=cmd_evaluate)

    sw = sub.add_parser("sweep", help="reconstruct + evaluate every (method, acceleration); CSV, plots, HTML report",
                        epilog=EXAMPLES["sweep"])
    sw.add_argument("data", help="folder of fastMRI .h5 files with targets")
    sw.add_argument("--methods", type=_strs, required=True, help="e.g. zero-filled,cs,unet,ccdf")
    sw.add_argument("--out", required=True)
    add_sampling_flags(sw, accelerations=(4, 8), center_fractions=None)
    add_method_flags(sw, "mri")
    sw.add_argument("--overwrite", action="store_true")
    sw.add_argument("--reference", choices=REFERENCES, default="file",
                    help="score against fastMRI's target (file) or a simulated file's noiseless one")
    sw.set_defaults(func=cmd_sweep, save=())

    d = sub.add_parser("demo", help="reconstruct the bundled demo file at R=4 and R=8 and print a table")
    d.add_argument("--file", default=None, help="another fastMRI file with a target (default: the bundled demo)")
    d.add_argument("--methods", type=_strs, default=None, help="default: zero-filled,cs,unet,ccdf")
    d.add_argument("--accelerations", type=_ints, default=(4, 8))
    d.add_argument("--center-fractions", type=_floats, default=(0.08, 0.04))
    d.add_argument("--device", default="auto")
    d.set_defaults(func=cmd_demo)

    mt = sub.add_parser("methods", help="list the methods, their options and defaults")
    mt.add_argument("--task", choices=["mri", "sr"], default="mri")
    mt.set_defaults(func=cmd_methods)

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
    pc.add_argument("--spec", required=True, help="a spec shipped in mrirecon/data/specs (e.g. fastmri_brain_multicoil) "
                                                  "or a YAML file")
    pc.set_defaults(func=cmd_data_check)
    pv = da.add_parser("convert", help="raw scanner data (ISMRMRD .h5, Siemens twix .dat) -> fastMRI .h5 files",
                       epilog="example: mrirecon data convert meas_gre.dat --out fastmri/")
    pv.add_argument("inputs", nargs="+", help="ISMRMRD .h5 / .mrd or Siemens .dat files")
    pv.add_argument("--out", required=True, help="output folder (never the input's folder for .h5 inputs)")
    pv.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    pv.set_defaults(func=cmd_data_convert)

    ex = sub.add_parser("export", help="export reconstructions").add_subparsers(dest="export_cmd", required=True)
    xd = ex.add_parser("dicom", help="reconstruction .h5 files -> one DICOM series each",
                       epilog="example: mrirecon export dicom out/gre.h5 --out dicom/")
    xd.add_argument("inputs", nargs="+", help="files written by mrirecon reconstruct")
    xd.add_argument("--out", required=True, help="folder for the series (<name>_dicom/)")
    xd.add_argument("--overwrite", action="store_true")
    xd.set_defaults(func=cmd_export_dicom)

    s = sub.add_parser("sr", help="super-resolve a NIfTI volume (in-plane or through-plane), .npy or PNG image",
                       epilog=EXAMPLES["sr"])
    s.add_argument("input")
    s.add_argument("--scale", type=int, choices=[2, 3, 4, 5], default=None,
                   help="factor (through-plane: default the rounded ratio of slice spacing to in-plane spacing)")
    s.add_argument("--axis", default="inplane", choices=["inplane", "slice", "auto", "0", "1", "2"],
                   help="inplane: the first two voxel axes; slice: the axis with the largest voxels (thick slices), "
                        "super-resolved through the two orthogonal plane sets and fused; auto: slice when the voxels "
                        "are anisotropic (ratio >= 1.5), else inplane; 0/1/2: that voxel axis")
    s.add_argument("--degradation", default="box", choices=["box", "kspace", "gaussian"],
                   help="the low-resolution model the consistency uses: box = block average (a thick slice's "
                        "profile; what the shipped SR3 was trained on), kspace = k-space truncation (an in-plane "
                        "acquisition with a smaller matrix), gaussian = Gaussian PSF of FWHM = factor")
    s.add_argument("--out", required=True)
    s.add_argument("--weights", default=None, help="network folder of the method (default: the shipped SR U-Net / SR3 / "
                                                   "prior weights)")
    s.add_argument("--unet-weights", default=None, help="SR U-Net initializer folder for ccdf -o init=unet")
    from mrirecon.pipeline.sr import ADAPT_STEPS

    s.add_argument("--adapt-steps", type=int, default=ADAPT_STEPS,
                   help="through-plane SR with the SR U-Net: fine-tune a copy on the volume's own high-resolution "
                        "planes for this many steps first (SMORE-style; kept only if it does better on held-out "
                        "planes; 200 gained 0.1-0.2 dB on a T2-like contrast and lost up to 0.2 dB on T1); 0: the "
                        "shipped network as it is")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    add_method_flags(s, "sr")
    s.set_defaults(func=cmd_sr)

    t = sub.add_parser("train", help="train a network: mrirecon train {unet,prior,sr3,srnet,export} [options] "
                                     "(mrirecon train unet --help lists them)")
    t.add_argument("what", choices=["unet", "prior", "sr3", "srnet", "export"])
    t.set_defaults(func=None)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"] and len(argv) >= 2 and not argv[1].startswith("-"):
        from mrirecon.train.main import main as train_main

        return train_main(argv[1], argv[2:])
    p = build_parser()
    a = p.parse_args(argv)
    return run_command(a)


def run_command(a) -> int:
    """One error policy for every command: 0 all good, 1 some files failed (reported per file by the
    command), 2 usage error (bad flag value, missing input, refused output), 3 internal error (the
    traceback with --debug), 130 / 143 after SIGINT / SIGTERM (summary files written)."""
    import logging
    import os
    import traceback

    from mrirecon.models.io import WeightsError
    from mrirecon.pipeline.batch import Terminated, install_signal_handlers

    if getattr(a, "quiet", False):
        os.environ["TQDM_DISABLE"] = "1"
    logging.basicConfig(level=getattr(logging, getattr(a, "log_level", "WARNING")), format="%(levelname)s: %(message)s")
    install_signal_handlers()
    try:
        return a.func(a)
    except Terminated:
        print("terminated (SIGTERM); summary files written", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interrupted; summary files written", file=sys.stderr)
        return 130
    except (FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError, ValueError, WeightsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(a, "debug", False):
            traceback.print_exc()
        return 2
    except Exception as exc:  # noqa: BLE001 - the one place internal errors are turned into exit 3
        print(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        if getattr(a, "debug", False):
            traceback.print_exc()
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
