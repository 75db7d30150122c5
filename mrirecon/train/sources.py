"""Where training items come from: our prepared template slices (``PreparedSource``) or a
fastMRI-layout folder (``FolderSource``: your own data). Every item is made from an explicit seed,
so a step's items do not depend on how many processes share the step (DDP) or on a resume.

Items (all peak-normalised the way the solvers normalise at inference):

* ``unet_item(i, seed)``: ``(input (2, H, W), target, target_is_complex)`` — the undersampled
  measurement through ``models.unet.network_input`` (the inference input path; multi-coil folders
  estimate ESPIRiT maps from the undersampled ACS lines exactly as ``mrirecon reconstruct`` does);
  the target is the complex image (prepared data) or the file's ``reconstruction_rss/esc`` (folders);
* ``complex_image(i, g)``: a complex image for the prior — single-coil images, or multi-coil data
  combined with ESPIRiT maps of the fully sampled k-space (computed once and cached on disk);
* ``magnitude(i, g)``: a magnitude image for SR3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mrirecon.data.augment import random_affine
from mrirecon.models.unet import network_input
from mrirecon.train.datasets import tissue_of


def item_generator(*seed) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([int(s) for s in seed]).generate_state(1)[0]))


class PreparedSource:
    """The prepared magnitude slices (``mrirecon data prepare``): simulated phase, coils, noise."""

    def __init__(self, images: np.ndarray, mask_func=None, input_spec=None, multicoil_prob: float = 0.5,
                 augment: bool = True, fixed: bool = False, recipe=None, tissue: list | None = None,
                 basic: dict | None = None):
        """``tissue``: per slice its ``(3, H, W)`` tissue probabilities or None (``load_tissue_split``),
        for the robust recipe's tissue-class synthesis; ``basic``: the basic recipe's ranges
        (``UNetSliceDataset``'s ``snr_db`` / ``coils`` / ``radius``; default 25–40 dB, 4–12, 1.0–1.4)."""
        from mrirecon.train.datasets import UNetSliceDataset

        self.images = torch.from_numpy(np.asarray(images, np.float32))
        self.augment, self.recipe = augment, recipe
        self.tissue = tissue
        self.pairs = UNetSliceDataset(images, mask_func, multicoil_prob=multicoil_prob, input_spec=input_spec,
                                      augment=augment, fixed_masks=fixed, recipe=recipe,
                                      tissue=tissue, **(basic or {})) if mask_func is not None else None

    def __len__(self):
        return len(self.images)

    def unet_item(self, i, seed):
        inp, tgt = self.pairs.item(i, seed)
        return inp, tgt, True

    def _mag(self, i, g):
        if self.augment and self.recipe is not None:
            return self.recipe.image(self.images[i], g, tissue_of(self.tissue, i))
        mag = self.images[i][None, None]
        if self.augment:
            mag = random_affine(mag, g)
        mag = mag[0, 0].clamp_min(0)
        return mag / mag.amax().clamp_min(1e-6)

    def complex_image(self, i, g):
        from mrirecon.train.datasets import to_complex_images

        return to_complex_images(self._mag(i, g)[None], g)[0]

    def magnitude(self, i, g):
        return self._mag(i, g)


class FolderSource:
    """A fastMRI-layout folder (``data.folders.SliceIndex``), read lazily one slice at a time."""

    def __init__(self, index, mask_func=None, input_spec=None, cache_dir=None, augment: bool = True):
        self.index, self.mask_func, self.input_spec, self.augment = index, mask_func, input_spec, augment
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._maps: dict = {}

    def __len__(self):
        return len(self.index)

    def _read(self, i):
        from mrirecon.io import FastMRIFile

        path, s = self.index.examples[i]
        f = FastMRIFile(path)
        return f, s, f.read_kspace(s)

    def unet_item(self, i, seed):
        from mrirecon.data.masks import mask_2d
        from mrirecon.physics import MultiCoilMRI, SingleCoilMRI
        from mrirecon.physics.coils import estimate_maps

        f, s, k = self._read(i)
        target = f.read_target(s)
        if target is None:
            raise ValueError(f"{f.path}: no reconstruction_rss / reconstruction_esc target to train the U-Net on")
        mask, _ = mask_2d(self.mask_func, tuple(k.shape[-2:]), seed=tuple(seed))
        if f.header is not None and 0 <= f.header.padding_left < f.header.padding_right <= k.shape[-1]:
            mask[:, :f.header.padding_left] = 0
            mask[:, f.header.padding_right:] = 0
        y = (k * mask)[None]
        if f.multicoil:
            key = (str(f.path), s, int(mask[0].sum()), tuple(mask[0].nonzero()[:, 0][:3].tolist()))
            if key not in self._maps:
                if len(self._maps) > 256:
                    self._maps.clear()
                self._maps[key] = estimate_maps(y[0], mask[0])[0]
            op = MultiCoilMRI(mask, self._maps[key][None])
        else:
            op = SingleCoilMRI(mask)
        inp, scale = network_input(op, y, self.input_spec)
        return inp[0], target / scale[0], False

    def _combined(self, i):
        """Complex coil-combined image of slice i, cropped to the recon size (cached)."""
        from mrirecon.physics.coils import estimate_maps
        from mrirecon.physics.fft import center_crop, ifft2c

        path, s = self.index.examples[i]
        cache = self.cache_dir / f"{Path(path).stem}_{s}.npy" if self.cache_dir else None
        if cache is not None and cache.exists():
            return torch.from_numpy(np.load(cache))
        f, s, k = self._read(i)
        img = ifft2c(k)
        if f.multicoil:
            maps = estimate_maps(k, None)[0]
            img = (maps.conj() * img).sum(0)
        img = center_crop(img, f.recon_size).to(torch.complex64)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, img.numpy())
        return img

    def complex_image(self, i, g):
        x = self._combined(i)
        if self.augment and bool(torch.rand(1, generator=g) < 0.5):
            x = x.flip(-1)
        return x / x.abs().amax().clamp_min(1e-12)

    def magnitude(self, i, g):
        from mrirecon.io import FastMRIFile

        path, s = self.index.examples[i]
        t = FastMRIFile(path).read_target(s)
        if t is None:
            t = self._combined(i).abs()
        if self.augment and bool(torch.rand(1, generator=g) < 0.5):
            t = t.flip(-1)
        return t / t.amax().clamp_min(1e-12)


def crop_or_pad(x: torch.Tensor, size: int, g: torch.Generator | None) -> torch.Tensor:
    """A random ``size × size`` crop of ``(..., H, W)`` (zero-padded first when smaller); centred without ``g``."""
    h, w = x.shape[-2:]
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph or pw:
        x = torch.nn.functional.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        h, w = x.shape[-2:]
    if g is None:
        top, left = (h - size) // 2, (w - size) // 2
    else:
        top = int(torch.randint(0, h - size + 1, (1,), generator=g))
        left = int(torch.randint(0, w - size + 1, (1,), generator=g))
    return x[..., top:top + size, left:left + size]


def open_sources(cfg, mask_func=None, val_mask_func=None, input_spec=None, log=print):
    """``(train, val)`` sources from ``cfg.data`` (``prepared`` / a prepared folder, or a fastMRI folder)
    and ``cfg.val`` (a fastMRI folder, or none: a volume-level split of ``cfg.data``)."""
    from mrirecon.data.prepare import load_split, load_tissue_split

    data = Path("data/prepared") if cfg.data == "prepared" else Path(cfg.data)
    if (data / f"train_{cfg.size}.npz").exists() or cfg.data == "prepared":
        train = load_split(data, "train", cfg.size)
        val = load_split(data, "val", cfg.size)
        recipe, tissue = None, None
        if getattr(cfg, "recipe", "basic") == "robust":
            from mrirecon.data.robust import RobustRecipe

            probs = getattr(cfg, "contrast_probs", None)
            recipe = RobustRecipe(contrast_probs=tuple(probs) if probs else RobustRecipe.contrast_probs,
                                  elastic=float(getattr(cfg, "elastic", RobustRecipe.elastic)),
                                  mask_prob=float(getattr(cfg, "mask_prob", 0.0)))
            if getattr(cfg, "tissue_maps", True):
                tissue = load_tissue_split(data, "train", cfg.size)
                n_maps = sum(t is not None for t in tissue)
                if n_maps:
                    log(f"tissue probability maps for {n_maps} of {len(tissue)} training slices (tissue-class synthesis)")
        basic = {k: tuple(getattr(cfg, f)) for k, f in (("snr_db", "snr_range"), ("coils", "coil_range"),
                                                         ("radius", "radius_range")) if hasattr(cfg, f)}
        if hasattr(cfg, "estimated_maps_prob"):
            basic["estimated_maps_prob"] = float(cfg.estimated_maps_prob)
        return (PreparedSource(train, mask_func, input_spec, getattr(cfg, "multicoil_prob", 0.5), recipe=recipe,
                               tissue=tissue, basic=basic),
                PreparedSource(val, val_mask_func or mask_func, input_spec, getattr(cfg, "multicoil_prob", 0.5),
                               augment=False, fixed=True))
    from mrirecon.data.folders import SliceIndex, split_by_volume

    challenge = getattr(cfg, "challenge", None) or None
    index = SliceIndex(data, challenge, log=log)
    if getattr(cfg, "val", None):
        val_index = SliceIndex(Path(cfg.val), challenge, log=log)
    else:
        index, val_index = split_by_volume(index, 0.1, cfg.seed)
    cache = Path(cfg.out) / "cache"
    return (FolderSource(index, mask_func, input_spec, cache),
            FolderSource(val_index, val_mask_func or mask_func, input_spec, cache, augment=False))
