"""Build the training / validation slice sets from the packaged T1 volumes.

Slices in all three orientations, near-empty slices dropped, zero-padded to a square and resized
to ``size``; each volume is normalised by its 99.9th intensity percentile (clipped to [0, 1]).
The split is **by source volume**: no slice of a validation volume is ever in training.

Output: ``<out>/train_<size>.npz`` and ``<out>/val_<size>.npz`` with ``images`` (N, size, size)
float16 magnitude in [0, 1], ``volume`` / ``orientation`` / ``index`` per slice, and
``<out>/provenance_<size>.json`` naming every source, its sha256 and licence. Slices of a source that
ships tissue probability maps (``Source.tissue``: the MNI 2009a grey / white matter maps) also get
``tissue`` (M, 3, size, size) float16 — grey matter, white matter, CSF (the rest of the object), resampled
exactly as the image — and ``tissue_of`` (N,) int32, the row of ``tissue`` of each slice or −1.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mrirecon.data.sources import SOURCES, SourceError, load_tissue, load_volume
from mrirecon.io.atomic import atomic_path

ORIENTATIONS = ("sagittal", "coronal", "axial")
TISSUE_CLASSES = ("gm", "wm", "csf")
#: object (head / brain) support of a normalised volume: where tissue maps apply; air stays air
OBJECT_LEVEL = 0.01


@dataclasses.dataclass
class PrepareConfig:
    out: Path = Path("data/prepared")
    cache: Path = Path("cache/sources")
    size: int = 128
    val_sources: tuple[str, ...] = ("colin27",)
    fallback_val_sources: tuple[str, ...] = ("pydeface_mean",)
    min_foreground: float = 0.15  # drop slices with less than this fraction of pixels > 5% max
    stride: int = 1  # keep every stride-th slice along each axis


def normalise_volume(vol: np.ndarray) -> np.ndarray:
    vol = np.clip(vol.astype(np.float32), 0, None)
    fg = vol[vol > 0.02 * vol.max()]
    scale = np.percentile(fg, 99.9) if fg.size else 1.0
    return np.clip(vol / max(scale, 1e-8), 0.0, 1.0)


def square_resize(img: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a 2-D image to a square, then resize (area / bilinear antialias) to size x size."""
    h, w = img.shape
    n = max(h, w)
    out = np.zeros((n, n), np.float32)
    top, left = (n - h) // 2, (n - w) // 2
    out[top:top + h, left:left + w] = img
    t = torch.from_numpy(out)[None, None]
    if n != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return t[0, 0].clamp_(0, 1).numpy()


def volume_slices(vol: np.ndarray, size: int, min_foreground: float, stride: int = 1, maps: np.ndarray | None = None):
    """Yield (orientation, index, slice, maps' slice or None) with anatomical 'up' at the top of each
    image; ``maps`` ``(C, X, Y, Z)`` (tissue probabilities on the volume's grid) are sliced and resized
    as the volume."""
    for axis, name in enumerate(ORIENTATIONS):
        for i in range(0, vol.shape[axis], stride):
            sl = np.take(vol, i, axis=axis)
            if np.mean(sl > 0.05) < min_foreground:
                continue
            extra = None if maps is None else np.stack(
                [square_resize(np.rot90(np.take(m, i, axis=axis)).copy(), size) for m in maps])
            yield name, i, square_resize(np.rot90(sl).copy(), size), extra


def tissue_probabilities(vol: np.ndarray, maps: dict[str, np.ndarray]) -> np.ndarray:
    """``(3, X, Y, Z)`` grey matter, white matter and CSF probabilities inside the object of the
    normalised ``vol`` (CSF: what grey and white matter leave, there); zero in air."""
    obj = (vol > OBJECT_LEVEL).astype(np.float32)
    gm, wm = maps["gm"] * obj, maps["wm"] * obj
    csf = np.clip(1.0 - gm - wm, 0.0, 1.0) * obj
    return np.stack([gm, wm, csf]).astype(np.float32)


def prepare(cfg: PrepareConfig, progress=None) -> dict:
    t_start = time.time()
    cfg.out = Path(cfg.out)
    cfg.out.mkdir(parents=True, exist_ok=True)
    vols, provs = [], []
    for src in SOURCES:
        try:
            vol, _, prov = load_volume(src, Path(cfg.cache))
        except Exception as exc:  # optional sources may be absent
            if src.optional:
                print(f"warning: optional source {src.name} unavailable ({exc}); skipped")
                continue
            raise SourceError(f"required source {src.name} could not be loaded: {exc}") from exc
        vol = normalise_volume(vol)
        probs = None
        if src.tissue:
            maps, prov["tissue"] = load_tissue(src, Path(cfg.cache), vol.shape)
            probs = tissue_probabilities(vol, maps)
        vols.append((src.name, vol, probs))
        provs.append(prov)
    names = [n for n, _, _ in vols]
    val = [n for n in cfg.val_sources if n in names] or [n for n in cfg.fallback_val_sources if n in names]
    if not val:
        raise SourceError("no validation source available")
    splits: dict[str, dict[str, list]] = {s: {"images": [], "volume": [], "orientation": [], "index": [],
                                             "tissue": [], "tissue_of": []} for s in ("train", "val")}
    for name, vol, probs in vols:
        split = "val" if name in val else "train"
        for orient, idx, img, tis in volume_slices(vol, cfg.size, cfg.min_foreground, cfg.stride, probs):
            d = splits[split]
            d["images"].append(img.astype(np.float16))
            d["volume"].append(name)
            d["orientation"].append(orient)
            d["index"].append(idx)
            d["tissue_of"].append(-1 if tis is None else len(d["tissue"]))
            if tis is not None:
                d["tissue"].append(tis.astype(np.float16))
        if progress:
            progress(name)
    summary = {"size": cfg.size, "val_sources": val, "train_sources": [n for n in names if n not in val],
               "sources": provs, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for split, d in splits.items():
        path = cfg.out / f"{split}_{cfg.size}.npz"
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                tissue = (np.stack(d["tissue"]) if d["tissue"] else
                          np.zeros((0, len(TISSUE_CLASSES), cfg.size, cfg.size), np.float16))
                np.savez_compressed(fh, images=np.stack(d["images"]), volume=np.array(d["volume"]),
                                    orientation=np.array(d["orientation"]), index=np.array(d["index"]),
                                    tissue=tissue, tissue_of=np.array(d["tissue_of"], np.int32))
        summary[f"{split}_slices"] = len(d["images"])
        summary[f"{split}_slices_with_tissue_maps"] = len(d["tissue"])
        summary[f"{split}_bytes"] = path.stat().st_size
    summary["seconds"] = round(time.time() - t_start, 1)
    with atomic_path(cfg.out / f"provenance_{cfg.size}.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))
    return summary


def load_tissue_split(root: Path, split: str, size: int = 128) -> list[np.ndarray | None]:
    """Per slice of ``load_split(root, split, size)``: its ``(3, size, size)`` float32 tissue
    probabilities (grey matter, white matter, CSF) or None; all None for data prepared before the maps."""
    path = Path(root) / f"{split}_{size}.npz"
    with np.load(path) as z:
        n = len(z["volume"])
        if "tissue_of" not in z.files:
            return [None] * n
        rows, tissue = z["tissue_of"], z["tissue"]
        return [None if r < 0 else tissue[r].astype(np.float32) for r in rows]


def load_split(root: Path, split: str, size: int = 128, orientation: str | None = None) -> np.ndarray:
    """Load prepared magnitude slices ``(N, size, size)`` float32 (optionally one orientation)."""
    path = Path(root) / f"{split}_{size}.npz"
    if not path.exists():
        raise FileNotFoundError(f"{path}: prepared data not found; run `mrirecon data prepare --size {size}`")
    with np.load(path) as z:
        images = z["images"]
        if orientation:
            images = images[z["orientation"] == orientation]
        return images.astype(np.float32)
