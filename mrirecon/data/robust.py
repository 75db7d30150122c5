"""The robust training recipe: a training distribution as wide as real scans.

``RobustRecipe`` draws, per item and from the item's own generator (so items are reproducible and
independent of how many processes share a step):

* contrast (``data.augment.augment_contrast``): tissue-class synthesis (from the slice's tissue
  probability maps where its source ships them, else from intensity classes), monotone and
  non-monotone intensity remaps, optionally a hard object mask (skull-stripped images), bias fields;
* geometry: flips, 90° rotations, a small rotation / zoom and a smooth nonlinear deformation
  (SynthSeg-style, for anatomy beyond the three template brains);
* coils: single-coil, or 2–16 coils from two sensitivity models — birdcage (``sigpy``) with a random
  radius and surface loops on an ellipse at random positions (``data.synth.surface_coil_maps``);
* noise: SNR uniform over ``snr_db`` dB, or noiseless with probability ``noiseless_prob``;
* sampling: R uniform over ``accelerations``, fastMRI random / equispaced masks or a Gaussian
  variable-density mask, the centre fraction tied to R as the defaults tie it (``0.32 / R``:
  R=4 → 0.08, R=8 → 0.04).

The networks get no input they could not have at inference (no σ, no R): the U-Net is noise-blind
and sees the measurement only through ``models.unet.prepare_input``, the inference input path.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from mrirecon.data.augment import CONTRAST_PROBS, augment_contrast, random_affine, rot90

RECIPES = ("basic", "robust")


def center_fraction_for(acceleration: float) -> float:
    """The centre fraction tied to R (the defaults' 0.08 at R=4, 0.04 at R=8)."""
    return 0.32 / float(acceleration)


@dataclasses.dataclass(frozen=True)
class RobustRecipe:
    snr_db: tuple[float, float] = (15.0, 50.0)
    noiseless_prob: float = 0.1
    single_coil_prob: float = 0.3
    coils: tuple[int, int] = (2, 16)
    birdcage_radius: tuple[float, float] = (0.6, 1.6)
    surface_prob: float = 0.5
    accelerations: tuple[int, int] = (2, 10)
    mask_types: tuple[str, ...] = ("random", "equispaced", "gaussian")
    estimated_maps_prob: float = 0.25
    contrast: bool = True
    #: largest std of the smooth nonlinear deformation (``data.augment.elastic_field``; 0: affine only) —
    #: anatomy beyond the three template brains
    elastic: float = 0.04
    #: (tissue-class synthesis, non-monotone remap, monotone remap) probabilities; the rest unchanged
    contrast_probs: tuple[float, float, float] = CONTRAST_PROBS
    #: share of items masked hard after the contrast draw (``data.augment.object_mask``: skull-stripped /
    #: background-masked images); 0 makes no draw
    mask_prob: float = 0.0

    def image(self, mag: torch.Tensor, g: torch.Generator, tissue: torch.Tensor | None = None) -> torch.Tensor:
        """``(H, W)`` magnitude → augmented magnitude with peak 1 (geometry, then contrast). ``tissue``:
        the slice's ``(C, H, W)`` tissue probabilities, moved by the same geometry and used by the
        tissue-class synthesis (``data.augment.tissue_map_synthesis``)."""
        x = mag[None, None].float()
        if tissue is not None:
            x = torch.cat([x, torch.as_tensor(tissue, dtype=torch.float32)[None]], 1)
        if x.shape[-1] == x.shape[-2]:
            x = rot90(x, g)
        x = random_affine(x, g, max_rot_deg=10.0, scale=(0.85, 1.15), elastic=self.elastic)[0].clamp_min(0)
        x, maps = x[0], (x[1:] if tissue is not None else None)
        x = x / x.amax().clamp_min(1e-6)
        if not self.contrast:
            return x
        synth, nonmono, mono = self.contrast_probs
        return augment_contrast(x, g, synth_prob=synth, nonmonotone_prob=nonmono, remap_prob=mono, tissue=maps,
                                mask_prob=self.mask_prob)

    def snr(self, g: torch.Generator) -> float | None:
        """The item's SNR in dB, or None for noiseless."""
        if float(torch.rand(1, generator=g)) < self.noiseless_prob:
            return None
        return self.snr_db[0] + float(torch.rand(1, generator=g)) * (self.snr_db[1] - self.snr_db[0])

    def coil_maps(self, h: int, w: int, g: torch.Generator) -> tuple[torch.Tensor | None, str]:
        """Raw sensitivity maps ``(C, H, W)`` (None = single-coil) and a description."""
        from mrirecon.data.synth import birdcage_maps, surface_coil_maps

        if float(torch.rand(1, generator=g)) < self.single_coil_prob:
            return None, "single"
        c = int(torch.randint(self.coils[0], self.coils[1] + 1, (1,), generator=g))
        if float(torch.rand(1, generator=g)) < self.surface_prob:
            return surface_coil_maps(c, h, w, g), f"surface{c}"
        r = self.birdcage_radius[0] + float(torch.rand(1, generator=g)) * (self.birdcage_radius[1] - self.birdcage_radius[0])
        return birdcage_maps(c, h, w, round(r, 2)), f"birdcage{c}r{r:.2f}"

    def mask_func(self, g: torch.Generator):
        from mrirecon.data.masks import create_mask_for_mask_type

        lo, hi = self.accelerations
        acc = int(torch.randint(lo, hi + 1, (1,), generator=g))
        kind = self.mask_types[int(torch.randint(0, len(self.mask_types), (1,), generator=g))]
        return create_mask_for_mask_type(kind, [center_fraction_for(acc)], [acc]), f"{kind}R{acc}"

    def use_estimated_maps(self, g: torch.Generator) -> bool:
        return float(torch.rand(1, generator=g)) < self.estimated_maps_prob


def noise_sigma(mag: torch.Tensor, snr_db: float | None) -> float:
    """σ of complex k-space noise for an SNR in dB (mean object magnitude over σ; 0 for None)."""
    if snr_db is None:
        return 0.0
    obj = mag[mag > 0.1 * mag.amax()]
    return float(obj.mean()) / 10 ** (snr_db / 20) if obj.numel() else 0.0

