"""``mrirecon sr``: super-resolve NIfTI volumes (slice-wise, in-plane), .npy arrays or PNG images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mrirecon.io.atomic import atomic_path
from mrirecon.physics.sr import Downsample, bicubic_upsample
from mrirecon.recon.result import SampleSet

SR_METHODS = ("bicubic", "sr3", "ccdf", "red-diff")


def read_image(path: Path):
    """→ (volume (slices, h, w) float32, voxel (row, col, slice) or None, kind)."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        from mrirecon.io.nifti import load_nifti

        vol, vox, _ = load_nifti(path)
        return vol, vox, "nifti"
    if name.endswith(".npy"):
        arr = np.load(path)
        if arr.ndim not in (2, 3):
            raise ValueError(f"{path}: expected a 2-D image or a (slices, H, W) stack, got shape {arr.shape}")
        return (arr[None] if arr.ndim == 2 else arr).astype(np.float32), None, "npy"
    if name.endswith(".png"):
        import matplotlib.image as mpimg

        img = mpimg.imread(str(path))
        if img.ndim == 3:
            img = img[..., :3].mean(-1)
        return img[None].astype(np.float32), None, "png"
    raise ValueError(f"{path}: unsupported input (use .nii, .nii.gz, .npy or .png)")


def write_image(path: Path, vol: np.ndarray, vox, kind: str) -> Path:
    if kind == "nifti" or str(path).endswith((".nii", ".nii.gz")):
        from mrirecon.io.nifti import save_nifti

        return save_nifti(path, vol, vox or (1.0, 1.0, 1.0))
    if str(path).endswith(".npy"):
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, vol if len(vol) > 1 else vol[0])
        return path
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        plt.imsave(tmp, vol[len(vol) // 2], cmap="gray", format="png", vmin=0, vmax=float(vol.max()) or 1.0)
    return path


def super_resolve(vol: np.ndarray, scale: int, method: str, *, weights=None, steps=None, t0=None, lamda=None,
                  seed: int = 0, batch_size: int = 4, device="cpu", options: dict | None = None) -> np.ndarray:
    """Super-resolve ``(slices, h, w)`` by ``scale``. ``t0``: where the sampler starts (SR3 and CCDF)
    or where RED-diff's descending timesteps start; ``options``: further fields of the method's
    options dataclass (e.g. ``{"eta": 0.5}``)."""
    op = Downsample(scale)
    out = []
    solver = _solver(method, weights, steps, t0, lamda, device, options or {})
    for s in range(0, len(vol), batch_size):
        y = torch.from_numpy(np.ascontiguousarray(vol[s:s + batch_size])).float()
        x = solver(op, y, seed + s)
        if isinstance(x, SampleSet):  # n_samples > 1: the posterior-mean estimate
            x = x.mean
        # the prior-based solvers work on complex images; an SR input is real (magnitude), so their
        # estimate is projected back onto real images: unlike |x| this keeps the final consistency exact
        out.append((x.real if x.is_complex() else x).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def _solver(method, weights, steps, t0, lamda, device, extra):
    from mrirecon.cli.methods import apply_options, default_weights

    if method == "bicubic":
        return lambda op, y, seed: bicubic_upsample(y, op.factor).clamp_min(0)
    if method == "sr3":
        from mrirecon.recon import sr3

        prior = sr3.SR3Prior.load(Path(weights) if weights else default_weights("sr3"), device)
        opts = apply_options(sr3.SR3Options(), extra, steps=steps, t0=t0)
        return lambda op, y, seed: sr3.solve(op, y.to(device), prior, options=opts, seed=seed)
    from mrirecon.diffusion.prior import DiffusionPrior

    prior = DiffusionPrior.load(Path(weights) if weights else default_weights("prior"), device)
    if method == "ccdf":
        from mrirecon.recon import ccdf

        opts = apply_options(ccdf.CCDFOptions(t0=0.2, steps=20), extra, steps=steps, t0=t0)
        return lambda op, y, seed: ccdf.solve(op, y.to(device).to(torch.complex64), prior, init="zero-filled",
                                              options=opts, seed=seed)
    if method == "red-diff":
        from mrirecon.recon import red_diff

        # for SR the final block-mean consistency is an exact projection (measured: +0.1–0.5 dB, docs/benchmarks.md)
        opts = apply_options(red_diff.REDDiffOptions(final_dc=True), extra, steps=steps, lamda=lamda, t_max=t0)
        return lambda op, y, seed: red_diff.solve(op, y.to(device).to(torch.complex64), prior, options=opts,
                                                  seed=seed)
    raise ValueError(f"unknown SR method {method!r}: {', '.join(SR_METHODS)}")


def cmd_sr(a) -> int:
    from mrirecon.cli.batch import resolve_device
    from mrirecon.cli.methods import parse_option

    inp, out = Path(a.input), Path(a.out)
    if not inp.exists():
        raise FileNotFoundError(f"{inp}: input not found")
    vol, vox, kind = read_image(inp)
    t0 = None if a.t0 is None else float(a.t0)
    sr = super_resolve(vol, a.scale, a.method, weights=a.weights, steps=a.steps, t0=t0, lamda=a.lamda, seed=a.seed,
                       device=resolve_device(a.device), options=dict(parse_option(o) for o in a.option))
    new_vox = (vox[0] / a.scale, vox[1] / a.scale, vox[2]) if vox else None
    write_image(out, sr, new_vox, kind if out.suffix.lower() not in (".npy", ".png") else out.suffix[1:])
    print(f"{inp.name}: {vol.shape[1:]} -> {sr.shape[1:]} ({len(sr)} slices, {a.method} ×{a.scale}) -> {out}")
    return 0


def add_parser(sub):
    p = sub.add_parser("sr", help="super-resolve a NIfTI volume (in-plane), .npy or PNG image")
    p.add_argument("input")
    p.add_argument("--scale", type=int, choices=[2, 4], required=True)
    p.add_argument("--method", choices=SR_METHODS, default="bicubic")
    p.add_argument("--out", required=True)
    p.add_argument("--weights", default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--t0", default=None)
    p.add_argument("--lamda", type=float, default=None)
    p.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                   help="any other field of the method's options, e.g. -o dc=x0 (SR3), -o final_dc=false; repeatable")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=cmd_sr)
