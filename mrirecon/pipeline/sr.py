"""Super-resolution of images: NIfTI volumes (2-D, 3-D, 4-D; in-plane or through-plane along one voxel
axis, geometry kept), .npy arrays or PNG images, through the registered ``sr`` methods (bicubic, sr3,
ccdf, red-diff) with the ``physics.sr.Degrade`` operator (box, k-space or Gaussian degradation) —
the same solver code as MRI reconstruction.

Through-plane SR with the SR U-Net (``unet``, or ``ccdf`` / ``red-diff`` from ``init=unet``) can first
adapt the network to the volume, as SMORE does (``recon.sr_adapt``): its high-resolution planes,
degraded along one in-plane axis, fine-tune a copy for ``adapt_steps`` steps, kept only where it
does better on held-out planes (``adapt_steps=0``, the default: the shipped network as it is)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mrirecon.diffusion.schedule import item_generators
from mrirecon.io.atomic import atomic_path
from mrirecon.physics.sr import Degrade, sample_offset
from mrirecon.pipeline.solvers import build_solver


def read_image(path: Path):
    """→ (volume (slices, h, w) float32, voxel (row, col, slice) or None, kind)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        from mrirecon.io.nifti import load_nifti

        vol, vox, img = load_nifti(path)
        return vol, {"voxel": vox, "affine": np.asarray(img.affine, float)}, "nifti"
    if name.endswith(".npy"):
        try:
            arr = np.load(path)
        except (OSError, ValueError, EOFError) as exc:
            raise ValueError(f"{path}: not a readable .npy array ({exc})") from exc
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise ValueError(f"{path}: expected a real-valued numeric array, got dtype {arr.dtype}")
        if arr.ndim not in (2, 3):
            raise ValueError(f"{path}: expected a 2-D image or a (slices, H, W) stack, got shape {arr.shape}")
        return (arr[None] if arr.ndim == 2 else arr).astype(np.float32), None, "npy"
    if name.endswith(".png"):
        import matplotlib.image as mpimg

        try:
            img = mpimg.imread(str(path))
        except (OSError, ValueError, SyntaxError) as exc:
            raise ValueError(f"{path}: not a readable PNG image ({exc})") from exc
        if img.ndim == 3:
            img = img[..., :3].mean(-1)
        return img[None].astype(np.float32), None, "png"
    raise ValueError(f"{path}: unsupported input (use .nii, .nii.gz, .npy or .png)")


def write_image(path: Path, vol: np.ndarray, geo, kind: str, factor: int = 1) -> Path:
    path = Path(path)
    if kind == "nifti" or str(path).endswith((".nii", ".nii.gz")):
        from mrirecon.io.nifti import save_nifti

        geo = geo or {}
        vox = geo.get("voxel") or (1.0, 1.0, 1.0)
        return save_nifti(path, vol, (vox[0] / factor, vox[1] / factor, vox[2]))
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


def super_resolve(vol: np.ndarray, scale, method: str, options: dict | None = None, *, weights=None,
                  unet_weights=None, seed: int = 0, batch_size: int = 4, device="cpu", solver=None,
                  degradation: str = "box", progress: bool = False) -> np.ndarray:
    """Super-resolve ``(slices, h, w)`` by ``scale`` (an integer, or ``(fh, fw)`` per axis; 1 leaves
    an axis as it is) with registered SR method ``method`` and its options (overrides of the method's
    SR defaults), for the ``degradation`` model (``physics.sr.Degrade``). Slice i draws noise seeded
    ``seed + i``."""
    solver = solver or build_solver(method, options, task="sr", weights=weights, unet_weights=unet_weights,
                                    device=device)
    op = Degrade(scale, degradation)
    dev = torch.device("cpu") if solver.prior is None else next(solver.prior.parameters()).device
    out = []
    for s in tqdm(range(0, len(vol), batch_size), desc=f"{method} x{op.factors}", unit="batch", disable=not progress,
                  leave=False):
        y = torch.from_numpy(np.ascontiguousarray(vol[s:s + batch_size], dtype=np.float32)).to(dev)
        if method in ("ccdf", "red-diff"):
            y = y.to(torch.complex64)  # the prior-based solvers work on complex images
        x = solver(op, y, generator=item_generators(seed + s, y.shape[0], dev)).image
        # an SR input is real (magnitude): the estimate is projected back onto real images, which
        # unlike |x| keeps the final consistency exact
        out.append((x.real if x.is_complex() else x).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


#: default self-adaptation steps of through-plane SR with the SR U-Net (``recon.sr_adapt``; the CLI's
#: ``--adapt-steps``): off. On the Colin27 block (docs/benchmarks.md) 200 steps gained 0.1-0.2 dB on its
#: T2-like remap but lost 0.02-0.21 dB on T1 (steps 9,250 and 12,500), although the held-out planes improved
#: in every case — the thick slices' own planes are partial-volume averages, smoother than true thin
#: planes — so no held-out rule tells the two apart; 200 steps is the documented opt-in
ADAPT_STEPS = 0


def _adapted(solver, planes: np.ndarray, factor: int, degradation: str, steps: int, seed: int, progress: bool,
             reports: list | None):
    """``solver`` with its SR U-Net (the ``unet`` method's network or a solver's ``init=unet``) adapted to
    ``planes`` (high-resolution along both axes); unchanged when it has no SR U-Net or ``steps`` is 0."""
    from mrirecon.recon.unet import is_sr_network
    from mrirecon.recon.sr_adapt import adapt_sr_network

    field = "prior" if is_sr_network(solver.prior) else "init" if is_sr_network(solver.init) else None
    if not steps or field is None:
        return solver
    net, report = adapt_sr_network(getattr(solver, field), planes, factor, degradation, steps=steps, seed=seed,
                                   progress=progress)
    if reports is not None:
        reports.append(report)
    return dataclasses.replace(solver, **{field: net})


def super_resolve_volume(data: np.ndarray, factors, method: str, options: dict | None = None, *, weights=None,
                         unet_weights=None, seed: int = 0, device="cpu", degradation: str = "box",
                         progress: bool = False, solver=None, adapt_steps: int = ADAPT_STEPS,
                         reports: list | None = None) -> np.ndarray:
    """Super-resolve a 3-D array ``(X, Y, Z)`` by integer ``factors`` per voxel axis (1 = kept).

    * two axes upsampled (in-plane): the planes spanned by them, one by one;
    * one axis (through-plane, as SMORE): the 2-D SR, degrading that axis only, runs on the two sets
      of planes that contain the axis (e.g. sagittal and coronal for the slice axis) and the two
      results are averaged — each direction sees the other in-plane axis at full resolution. With
      ``adapt_steps`` > 0 an SR U-Net is first adapted to the volume's own planes perpendicular to the
      axis (``recon.sr_adapt``; what it did is appended to ``reports``). The solver passed in is not changed.
    """
    fs = tuple(int(f) for f in factors)
    if len(fs) != 3 or any(f < 1 for f in fs) or data.ndim != 3:
        raise ValueError(f"expected a 3-D volume and three factors >= 1, got shape {data.shape} and {factors}")
    up = [i for i, f in enumerate(fs) if f > 1]
    if not up:
        return np.array(data, np.float32)
    if len(up) == 3:
        raise ValueError("super-resolve at most two axes at once (in-plane) or one (through-plane)")
    solver = solver or build_solver(method, options, task="sr", weights=weights, unet_weights=unet_weights,
                                    device=device)
    kw = dict(seed=seed, solver=solver, degradation=degradation, progress=progress)
    if len(up) == 2:
        k = ({0, 1, 2} - set(up)).pop()
        planes = np.moveaxis(data, k, 0)
        return np.moveaxis(super_resolve(planes, (fs[up[0]], fs[up[1]]), method, **kw), 0, k)
    a = up[0]
    solver = _adapted(solver, np.moveaxis(data, a, 0), fs[a], degradation, adapt_steps, seed, progress, reports)
    kw["solver"] = solver
    results = []
    for o in (i for i in range(3) if i != a):  # planes indexed along o, spanned by a and the third axis
        planes = np.moveaxis(data, o, 0)  # (n_o, ...) with a and the third axis in their order
        pf = tuple(fs[a] if ax == a else 1 for ax in range(3) if ax != o)
        results.append(np.moveaxis(super_resolve(planes, pf, method, **kw), 0, o))
    return np.mean(results, 0).astype(np.float32)


def resolve_axis(axis: str, zooms, scale: int | None) -> tuple[tuple[int, int, int], str]:
    """``(factors per voxel axis, description)`` for ``--axis`` inplane | slice | auto | 0 | 1 | 2.

    ``slice`` is the axis with the largest voxel size (the last one when all are equal); ``auto``
    is ``slice`` when the voxels are anisotropic (largest / smallest ≥ 1.5), else ``inplane``.
    Without ``scale`` a through-plane factor is the rounded voxel-size ratio."""
    z = [float(v) for v in zooms[:3]]
    if axis == "auto":
        axis = "slice" if max(z) / max(min(z), 1e-9) >= 1.5 else "inplane"
    if axis == "inplane":
        if not scale:
            raise ValueError("--scale is needed for in-plane super-resolution")
        return (scale, scale, 1), f"in-plane x{scale}"
    if axis == "slice":
        k = int(np.argmax(z)) if max(z) > min(z) else 2
    elif axis in ("0", "1", "2"):
        k = int(axis)
    else:
        raise ValueError(f"--axis must be inplane, slice, auto, 0, 1 or 2, got {axis!r}")
    thin = min(v for i, v in enumerate(z) if i != k)
    f = scale or int(round(z[k] / max(thin, 1e-9)))
    if not 2 <= f <= 5:
        raise ValueError(f"through-plane factor along voxel axis {k} ({z[k]:g} mm over {thin:g} mm) is {f}; "
                         "give --scale 2..5")
    fs = [1, 1, 1]
    fs[k] = f
    return tuple(fs), f"through-plane x{f} along voxel axis {k}"


def resampled_affine(affine: np.ndarray, factors, shape_hr, degradation: str = "box") -> np.ndarray:
    """The affine of a volume upsampled by ``factors`` per voxel axis: voxel sizes / factor, origin
    moved so every low-resolution voxel centre stays where it was (high-resolution index j sits at
    low-resolution index ``(j − offset) / f``, ``offset`` from ``physics.sr.sample_offset``);
    orientation kept."""
    t = np.eye(4)
    for ax, f in enumerate(factors):
        if f > 1:
            t[ax, ax] = 1.0 / f
            t[ax, 3] = -sample_offset(int(shape_hr[ax]), int(f), degradation) / f
    return np.asarray(affine, float) @ t


def _check_finite(vol: np.ndarray, path) -> None:
    if vol.size == 0 or not np.isfinite(vol).all():
        raise ValueError(f"{path}: the super-resolved volume is empty or not finite; nothing written")


def check_input(vol: np.ndarray, path) -> None:
    """Refuse, naming the file, an input that would only give an empty or meaningless result: no
    voxels, non-finite voxels (NaN / inf: the networks would spread them), or nothing but zeros."""
    if vol.size == 0:
        raise ValueError(f"{path}: the image has no voxels (shape {vol.shape})")
    bad = int(vol.size - np.isfinite(vol).sum())
    if bad:
        raise ValueError(f"{path}: {bad} of {vol.size} voxels are NaN or infinite; replace them (e.g. by 0) first")
    if not np.any(vol):
        raise ValueError(f"{path}: every voxel is 0; nothing to super-resolve")


def load_nifti_image(path):
    """``nibabel.load`` with the file named in the error of an unreadable or truncated file."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asarray(img.get_fdata(dtype=np.float32))
    except (nib.filebasedimages.ImageFileError, OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable NIfTI image ({exc})") from exc
    return img, data


def super_resolve_nifti(inp, out, scale: int | None, method: str, options: dict | None = None, *, axis="inplane",
                        degradation: str = "box", weights=None, unet_weights=None, seed: int = 0, device="cpu",
                        progress: bool = True, adapt_steps: int = ADAPT_STEPS):
    """A 2-D, 3-D or 4-D NIfTI (any stored dtype; 4-D: volume by volume) → float32 NIfTI whose affine
    keeps the orientation and the world position of every input voxel centre."""
    import nibabel as nib

    img, data = load_nifti_image(inp)
    flat = data.ndim == 2  # one slice: written back as a 2-D image
    if flat:
        data = data[:, :, None]
    if data.ndim not in (3, 4):
        raise ValueError(f"{inp}: expected a 2-D, 3-D or 4-D NIfTI image, got shape {data.shape}")
    check_input(data, inp)
    zooms = tuple(float(z) for z in img.header.get_zooms())
    zooms3 = (zooms + (1.0, 1.0, 1.0))[:3]
    if flat and axis not in ("inplane", "auto"):
        raise ValueError(f"{inp}: a 2-D image has no slice axis to super-resolve (--axis {axis}); use --axis inplane")
    factors, what = resolve_axis("inplane" if flat else axis, zooms3, scale)
    vols = data[..., None] if data.ndim == 3 else data
    solver = build_solver(method, options, task="sr", weights=weights, unet_weights=unet_weights, device=device)
    outs, reports = [], []
    thick = [i for i, f in enumerate(factors) if f > 1]
    if len(thick) == 1 and adapt_steps:  # through-plane: adapt once, to the planes of every volume (a series
        # shares its anatomy)
        a = thick[0]
        planes = np.concatenate([np.moveaxis(vols[..., v], a, 0) for v in range(vols.shape[-1])])
        solver = _adapted(solver, planes, factors[a], degradation, adapt_steps, seed, progress, reports)
    for v in tqdm(range(vols.shape[-1]), desc="volumes", disable=not progress or vols.shape[-1] == 1):
        outs.append(super_resolve_volume(vols[..., v], factors, method, seed=seed, solver=solver,
                                         degradation=degradation, progress=progress, adapt_steps=0))
    sr = np.stack(outs, -1) if data.ndim == 4 else outs[0]
    _check_finite(sr, inp)
    affine = resampled_affine(img.affine, factors, sr.shape, degradation)
    if flat:
        sr = sr[:, :, 0]
    hdr = img.header.copy()
    hdr.set_data_dtype(np.float32)
    res = nib.Nifti1Image(sr, affine, hdr)
    res.header.set_zooms(tuple(z / f for z, f in zip(zooms3, factors))[:sr.ndim] + zooms[3:sr.ndim])
    res.header["scl_slope"], res.header["scl_inter"] = 1.0, 0.0
    res.set_sform(affine, code=int(img.header["sform_code"]) or 1)
    res.set_qform(affine, code=int(img.header["qform_code"]) or 1)
    out = Path(out)
    suffix = ".nii.gz" if str(out).endswith(".gz") else ".nii"
    with atomic_path(out) as tmp:
        nib.save(res, tmp + suffix)
        Path(tmp + suffix).replace(tmp)
    if reports:
        r = reports[0]
        what += (f"; SR U-Net adapted to the volume ({r.steps} steps on {r.train_planes} planes, "
                 + ("kept" if r.kept else "not kept") + f": held-out L1 {r.val_l1_before:.4g} -> {r.val_l1_after:.4g})")
    return tuple(img.shape), sr.shape, what


def super_resolve_file(inp, out, scale: int | None, method: str, options: dict | None = None, *, weights=None,
                       unet_weights=None, seed: int = 0, device="cpu", axis: str = "inplane",
                       degradation: str = "box", progress: bool = True,
                       adapt_steps: int = ADAPT_STEPS) -> tuple[tuple, tuple, str]:
    """Read ``inp``, super-resolve it, write ``out`` (kind from its suffix); returns (in shape, out shape,
    what was done). NIfTI input keeps its geometry (``super_resolve_nifti``); .npy / PNG images are
    super-resolved in-plane."""
    inp, out = Path(inp), Path(out)
    if not inp.exists():
        raise FileNotFoundError(f"{inp}: input not found")
    if inp.name.lower().endswith((".nii", ".nii.gz")) and out.name.lower().endswith((".nii", ".nii.gz")):
        return super_resolve_nifti(inp, out, scale, method, options, axis=axis, degradation=degradation,
                                   weights=weights, unet_weights=unet_weights, seed=seed, device=device,
                                   progress=progress, adapt_steps=adapt_steps)
    if axis not in ("inplane", "auto"):
        raise ValueError(f"{inp}: --axis {axis} needs a NIfTI input and output (voxel axes and sizes)")
    if not scale:
        raise ValueError("--scale is needed for in-plane super-resolution")
    vol, geo, kind = read_image(inp)
    check_input(vol, inp)
    sr = super_resolve(vol, scale, method, options, weights=weights, unet_weights=unet_weights, seed=seed,
                       device=device, degradation=degradation, progress=progress)
    _check_finite(sr, inp)
    write_image(out, sr, geo, kind if out.suffix.lower() not in (".npy", ".png") else out.suffix[1:], factor=scale)
    return vol.shape[1:], sr.shape[1:], f"in-plane x{scale}, {len(sr)} slices"
