"""Training datasets built on the prepared magnitude slices.

* ``PriorBatches``: complex images (2 channels) with random smooth phase, flips, small affine and
  intensity jitter, random crops — for the diffusion prior.
* ``UNetSliceDataset``: (network input, target) pairs with masks drawn on the fly, seeded per item
  as fastMRI's ``MaskFunc`` / ``SliceDataset`` do — for the feed-forward U-Net; the input is made by
  ``models.unet.network_input``, the function inference uses.
* ``SRPairs``: (bicubic-upsampled LR, HR) pairs for ×2 / ×4 super-resolution.

Images are normalised per slice so the magnitude peak is 1 (the same normalisation the solvers
apply to a zero-filled estimate at reconstruction time).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from mrirecon.data.augment import random_affine, random_crop, smooth_phase
from mrirecon.models.boundary import complex_to_channels
from mrirecon.models.unet import network_input
from mrirecon.physics import MultiCoilMRI, SingleCoilMRI
from mrirecon.physics.fft import fft2c


def to_complex_images(mag: torch.Tensor, generator: torch.Generator | None = None,
                      max_phase: float = np.pi) -> torch.Tensor:
    """Magnitude ``(batch, H, W)`` → complex64 with a smooth random phase."""
    ph = smooth_phase(tuple(mag.shape[-2:]), generator, batch=mag.shape[0], max_amplitude=max_phase)
    return torch.polar(mag.float(), ph.float())


def _add_noise(k: torch.Tensor, sigma: float, g: torch.Generator) -> torch.Tensor:
    """Complex white noise of standard deviation ``sigma`` (σ/√2 per real and imaginary part)."""
    return k + sigma / np.sqrt(2) * torch.complex(torch.randn(k.shape, generator=g), torch.randn(k.shape, generator=g))


class PriorBatches:
    """Infinite stream of augmented complex training crops ``(batch, 2, crop, crop)``."""

    def __init__(self, images: np.ndarray, batch_size: int = 8, crop: int = 64, seed: int = 0,
                 affine: bool = True, intensity: tuple[float, float] = (0.8, 1.1)):
        self.images = torch.from_numpy(np.asarray(images, np.float32))
        self.batch_size, self.crop, self.affine, self.intensity = batch_size, crop, affine, intensity
        self.generator = torch.Generator().manual_seed(seed)

    def reseed(self, seed: int) -> None:
        self.generator.manual_seed(seed)

    def sample(self) -> torch.Tensor:
        g = self.generator
        idx = torch.randint(0, len(self.images), (self.batch_size,), generator=g)
        mag = self.images[idx][:, None]
        if self.affine:
            mag = random_affine(mag, g)
        mag = mag[:, 0].clamp_min(0)
        peak = mag.flatten(1).amax(1).clamp_min(1e-6)[:, None, None]
        lo, hi = self.intensity
        mag = mag / peak * (lo + torch.rand((len(mag), 1, 1), generator=g) * (hi - lo))
        x = complex_to_channels(to_complex_images(mag, g))
        return random_crop(x, self.crop, g)


def tissue_of(tissue: list | None, i: int) -> torch.Tensor | None:
    """Image ``i``'s tissue probabilities as a tensor, or None (no list, or none for that image)."""
    t = None if tissue is None else tissue[i]
    return None if t is None else torch.from_numpy(np.asarray(t, np.float32))


def combined_target(maps: torch.Tensor, coil_images: torch.Tensor) -> torch.Tensor:
    """The training target of an input made with estimated coil maps: the noise-free coil images combined
    with those maps, Σ_c conj(S_c) c_c. ESPIRiT maps carry a phase of their own (relative to a reference
    coil), so the image they reconstruct has that phase, not the simulated one: a target with the true
    phase would teach the network a phase it cannot see. Its magnitude is the RSS image wherever the maps
    span the coil images."""
    return (maps.conj() * coil_images).sum(0)


def estimated_maps_item(y: torch.Tensor, mask: torch.Tensor, coil_images: torch.Tensor):
    """``(operator, target)`` of a multi-coil item whose input goes through coil maps estimated from its
    undersampled k-space ``y`` (``physics.coils.estimate_maps``, as at inference; a calibration ESPIRiT
    cannot use falls back to low-resolution maps), with the target those maps reconstruct."""
    from mrirecon.physics.coils import estimate_maps

    maps = estimate_maps(y, mask.reshape(-1, mask.shape[-1])[0])[0]  # the sampled columns: one row of the mask
    return MultiCoilMRI(mask, maps[None]), combined_target(maps, coil_images)


class UNetSliceDataset(torch.utils.data.Dataset):
    """Pairs for the feed-forward U-Net: ``(input (2, H, W), target (2, H, W))``.

    Each item: a complex image with random smooth phase (augmented unless ``fixed_masks``), made
    single-coil or — with probability ``multicoil_prob`` — multi-coil with birdcage maps (``coils``: 4–12),
    complex noise at a random SNR in ``snr_db``, undersampled with a mask from ``mask_func``; the
    input is ``models.unet.network_input`` with the network's ``input_spec`` — the function the
    solver uses (``A^H y``, or the CG-SENSE image for multi-coil data with ``{"mode": "sense"}``).
    Both are divided by the input's peak magnitude. Seeding follows fastMRI: the mask seed of item
    ``i`` is ``(seed, epoch, i)`` in training, ``(i,)`` with ``fixed_masks`` (validation: the same
    masks every epoch), so DataLoader workers draw independent, reproducible masks.
    """

    def __init__(self, images: np.ndarray, mask_func, seed: int = 0, fixed_masks: bool = False,
                 augment: bool = True, multicoil_prob: float = 0.5, snr_db: tuple[float, float] = (25.0, 40.0),
                 input_spec: dict | None = None, recipe=None, tissue: list | None = None,
                 coils: tuple[int, int] = (4, 12), radius: tuple[float, float] = (1.0, 1.4),
                 estimated_maps_prob: float = 0.0):
        self.images = torch.from_numpy(np.asarray(images, np.float32))
        self.mask_func, self.seed, self.fixed, self.augment = mask_func, seed, fixed_masks, augment
        self.multicoil_prob, self.snr_db = multicoil_prob, tuple(float(v) for v in snr_db)
        self.coils, self.radius = tuple(int(v) for v in coils), tuple(float(v) for v in radius)
        self.estimated_maps_prob = float(estimated_maps_prob)  # basic recipe: inputs through estimated maps
        self.input_spec = input_spec  # the network's meta["input"] (prepare_input)
        self.recipe = recipe  # data.robust.RobustRecipe: the wide distribution (None: the basic one)
        self.tissue = tissue  # per image its tissue probabilities or None (the recipe's tissue-class synthesis)
        self.epoch = 0
        self._maps_cache: dict = {}

    def __len__(self) -> int:
        return len(self.images)

    def _maps(self, coils: int, h: int, w: int, radius: float) -> torch.Tensor:
        from mrirecon.data.synth import birdcage_maps
        from mrirecon.physics.operators import normalise_maps

        key = (coils, h, w, round(radius, 1))
        if key not in self._maps_cache:
            raw = birdcage_maps(coils, h, w, radius)
            self._maps_cache[key] = (raw, normalise_maps(raw))
        return self._maps_cache[key]

    def __getitem__(self, i: int):
        return self.item(i, (i,) if self.fixed else (self.seed, self.epoch, i))

    def item(self, i: int, seed: tuple):
        """Pair for image ``i`` with all randomness (augmentation, coils, noise, mask) from ``seed``."""
        return self._pair(*self.measurement(i, seed))

    def input_noise_reference(self, n: int = 400, seed: int = 7) -> float | None:
        """``sigma_ref`` of this training distribution (``models.unet.input_noise_reference``: the 95th
        percentile of the multi-coil inputs' σ_n) over ``n`` seeded draws; None for other inputs or
        without multi-coil items."""
        from mrirecon.models.unet import input_noise_reference

        spec = self.input_spec or {}
        if spec.get("mode") != "sense" or n < 1:
            return None
        rng = np.random.default_rng(seed)
        items = []
        for j in range(n):
            op, y, _ = self.measurement(int(rng.integers(len(self.images))), (seed, j))
            if op.num_coils > 1:
                items.append((op, y[None], spec))
        return round(input_noise_reference(items), 5) if items else None

    def measurement(self, i: int, seed: tuple):
        """``(operator, undersampled k-space (coils, H, W) or (H, W), target)`` of ``item``."""
        g = torch.Generator().manual_seed(int(np.random.SeedSequence(list(seed)).generate_state(1)[0]))
        if self.recipe is not None and not self.fixed:
            return self._robust_item(i, seed, g)
        mag = self.images[i][None, None]
        if self.augment and not self.fixed:
            mag = random_affine(mag, g)
        mag = mag[:, 0].clamp_min(0)
        mag = mag / mag.amax().clamp_min(1e-6)
        x = to_complex_images(mag, g)[0]
        h, w = x.shape
        mask, _ = self.mask_func((h, w, 2), seed=seed)
        mask = mask.reshape(-1).to(torch.float32)[None, :]
        snr = self.snr_db[0] + float(torch.rand(1, generator=g)) * (self.snr_db[1] - self.snr_db[0])
        sigma = float(mag[mag > 0.1].mean()) / 10 ** (snr / 20) if (mag > 0.1).any() else 0.0
        if float(torch.rand(1, generator=g)) < self.multicoil_prob:
            coils = int(torch.randint(self.coils[0], self.coils[1] + 1, (1,), generator=g))
            n_r = int(round((self.radius[1] - self.radius[0]) / 0.1)) + 1
            radius = self.radius[0] + 0.1 * int(torch.randint(0, n_r, (1,), generator=g))
            raw, norm = self._maps(coils, h, w, radius)
            k = fft2c(raw * x[None])
            op = MultiCoilMRI(mask[0], norm[None])
            target = x * (raw.abs() ** 2).sum(0).sqrt()  # the SENSE-combined image with ESPIRiT-like maps
        else:
            k = fft2c(x)
            op = SingleCoilMRI(mask[0])
            target = x
        k = _add_noise(k, sigma, g)
        # drawn last and only when asked for, so that the other draws stay those of earlier runs
        if op.num_coils > 1 and self.estimated_maps_prob > 0 and not self.fixed \
                and float(torch.rand(1, generator=g)) < self.estimated_maps_prob:
            op, target = estimated_maps_item(k * mask, mask[0], raw * x[None])
        return op, k * mask, target

    def _pair(self, op, y: torch.Tensor, target: torch.Tensor):
        """(network input through ``network_input``, target), both at the input's scale."""
        inp, scale = network_input(op, y[None], self.input_spec)
        return inp[0], complex_to_channels((target / scale)[None])[0]

    def _robust_item(self, i: int, seed: tuple, g: torch.Generator, recipe=None):
        """An item of the robust recipe: contrast / geometry / coils / noise / mask all drawn from ``g``;
        a quarter of the multi-coil items use ESPIRiT maps estimated from the undersampled ACS lines,
        exactly as ``mrirecon reconstruct`` does, the others the true (normalised) maps."""
        from mrirecon.data.masks import mask_2d
        from mrirecon.data.robust import noise_sigma
        from mrirecon.physics.operators import normalise_maps

        rc = recipe or self.recipe
        mag = rc.image(self.images[i], g, tissue_of(self.tissue, i))
        x = to_complex_images(mag[None], g)[0]
        h, w = x.shape
        raw, _ = rc.coil_maps(h, w, g)
        mf, _ = rc.mask_func(g)
        mask, _ = mask_2d(mf, (h, w), seed=tuple(int(s) for s in seed))
        sigma = noise_sigma(mag, rc.snr(g))
        k = _add_noise(fft2c(x if raw is None else raw * x[None]), sigma, g)
        if raw is None:
            op, target = SingleCoilMRI(mask), x
        elif rc.use_estimated_maps(g):
            op, target = estimated_maps_item(k * mask, mask, raw * x[None])
        else:
            op, target = MultiCoilMRI(mask, normalise_maps(raw)[None]), x * (raw.abs() ** 2).sum(0).sqrt()
        return op, k * mask, target


class SRPairs:
    """HR/LR pairs: ``(bicubic-up LR (1, H, W), HR (1, H, W))`` magnitude, random crops for training."""

    def __init__(self, images: np.ndarray, scale: int = 4, batch_size: int = 8, crop: int = 64, seed: int = 0):
        self.images = torch.from_numpy(np.asarray(images, np.float32))
        self.scale, self.batch_size, self.crop = scale, batch_size, crop
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self):
        from mrirecon.physics.sr import Downsample, bicubic_upsample

        g = self.generator
        idx = torch.randint(0, len(self.images), (self.batch_size,), generator=g)
        hr = random_affine(self.images[idx][:, None], g)[:, 0].clamp_min(0)
        hr = random_crop(hr[:, None], self.crop, g)[:, 0]
        lr = Downsample(self.scale).forward(hr)
        up = bicubic_upsample(lr, self.scale)
        return up[:, None], hr[:, None]
