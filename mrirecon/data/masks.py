"""Undersampling masks.

The fastMRI families (``RandomMaskFunc``, ``EquiSpacedMaskFunc``, ``EquispacedMaskFractionFunc``,
``MagicMaskFunc``, ``MagicMaskFractionFunc``) are drop-in re-implementations: same constructor,
same ``__call__(shape, offset=None, seed=None) -> (mask, num_low_frequencies)``, and the same
draws from a ``numpy.random.RandomState`` in the same order, so a seed gives the mask fastMRI
gives, bit for bit (the test suite checks this against the ``fastmri`` package). ``shape`` is the
k-space shape with a trailing real/imag axis, as in fastMRI: columns are ``shape[-2]``.

Beyond fastMRI: ``GaussianMaskFunc`` (1-D variable density, score-MRI style) and
``PoissonMaskFunc`` (2-D Poisson disc through ``sigpy.mri.poisson``), both by acceleration and
centre fraction and reporting the acceleration they achieve.
"""

from __future__ import annotations

import contextlib
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

Seed = Optional[Union[int, Tuple[int, ...]]]


class MaskError(ValueError):
    pass


@contextlib.contextmanager
def _temp_seed(rng: np.random.RandomState, seed: Seed):
    if seed is None:
        yield
        return
    saved = rng.get_state()
    rng.seed(seed)
    try:
        yield
    finally:
        rng.set_state(saved)


def seed_from_filename(fname: str) -> tuple[int, ...]:
    """fastMRI's per-file mask seed: ``tuple(map(ord, fname))`` of the file's base name."""
    from pathlib import Path

    return tuple(map(ord, Path(fname).name))


class MaskFunc:
    """Base class: a fully sampled centre plus an acceleration pattern outside it (columns)."""

    def __init__(self, center_fractions: Sequence[float], accelerations: Sequence[int],
                 allow_any_combination: bool = False, seed: Optional[int] = None):
        if len(center_fractions) != len(accelerations) and not allow_any_combination:
            raise ValueError("Number of center fractions should match number of accelerations "
                             "if allow_any_combination is False.")
        self.center_fractions = center_fractions
        self.accelerations = accelerations
        self.allow_any_combination = allow_any_combination
        self.rng = np.random.RandomState(seed)

    def __call__(self, shape: Sequence[int], offset: Optional[int] = None, seed: Seed = None):
        if len(shape) < 3:
            raise ValueError("Shape should have 3 or more dimensions")
        with _temp_seed(self.rng, seed):
            center, accel, n_low = self.sample_mask(shape, offset)
        return torch.max(center, accel), n_low

    def sample_mask(self, shape, offset):
        num_cols = shape[-2]
        center_fraction, acceleration = self.choose_acceleration()
        n_low = round(num_cols * center_fraction)
        center = self.reshape_mask(self.calculate_center_mask(shape, n_low), shape)
        accel = self.reshape_mask(self.calculate_acceleration_mask(num_cols, acceleration, offset, n_low), shape)
        return center, accel, n_low

    def reshape_mask(self, mask: np.ndarray, shape: Sequence[int]) -> torch.Tensor:
        mask_shape = [1] * len(shape)
        mask_shape[-2] = shape[-2]
        return torch.from_numpy(mask.reshape(*mask_shape).astype(np.float32))

    def calculate_center_mask(self, shape: Sequence[int], num_low_freqs: int) -> np.ndarray:
        num_cols = shape[-2]
        mask = np.zeros(num_cols, dtype=np.float32)
        pad = (num_cols - num_low_freqs + 1) // 2
        mask[pad:pad + num_low_freqs] = 1
        return mask

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies) -> np.ndarray:
        raise NotImplementedError

    def choose_acceleration(self):
        if self.allow_any_combination:
            return self.rng.choice(self.center_fractions), self.rng.choice(self.accelerations)
        choice = self.rng.randint(len(self.center_fractions))
        return self.center_fractions[choice], self.accelerations[choice]


class RandomMaskFunc(MaskFunc):
    """Centre lines plus columns drawn i.i.d. so that N/acceleration columns are expected."""

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies):
        prob = (num_cols / acceleration - num_low_frequencies) / (num_cols - num_low_frequencies)
        return self.rng.uniform(size=num_cols) < prob


class EquiSpacedMaskFunc(MaskFunc):
    """Centre lines plus every ``acceleration``-th column from a (random) offset."""

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies):
        if offset is None:
            offset = self.rng.randint(0, high=round(acceleration))
        mask = np.zeros(num_cols, dtype=np.float32)
        mask[offset::acceleration] = 1
        return mask


class EquispacedMaskFractionFunc(MaskFunc):
    """Equispaced with the spacing adjusted so the total matches N/acceleration.

    Like fastMRI's, the lines are not exactly equispaced (rounding of a fractional spacing); this is
    kept on purpose to match the released fastMRI multi-coil data.
    """

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies):
        adjusted = (acceleration * (num_low_frequencies - num_cols)) / (num_low_frequencies * acceleration - num_cols)
        if offset is None:
            offset = self.rng.randint(0, high=round(adjusted))
        mask = np.zeros(num_cols)
        samples = np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.uint)
        mask[samples] = 1.0
        return mask


class MagicMaskFunc(MaskFunc):
    """Offset sampling exploiting conjugate symmetry (Defazio 2019)."""

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies):
        if offset is None:
            offset = self.rng.randint(0, high=acceleration)
        if offset % 2 == 0:
            offset_pos, offset_neg = offset + 1, offset + 2
        else:
            offset_pos, offset_neg = offset - 1 + 3, offset - 1 + 0
        poslen = (num_cols + 1) // 2
        neglen = num_cols - (num_cols + 1) // 2
        pos = np.zeros(poslen, dtype=np.float32)
        neg = np.zeros(neglen, dtype=np.float32)
        pos[offset_pos::acceleration] = 1
        neg[offset_neg::acceleration] = 1
        return np.fft.fftshift(np.concatenate((pos, np.flip(neg))))


class MagicMaskFractionFunc(MagicMaskFunc):
    """Magic mask with the acceleration adjusted to match N/acceleration exactly.

    Where the centre fraction already uses the whole budget of N/acceleration columns, fastMRI
    crashes inside numpy (``ValueError: high <= 0``); this raises a ``MaskError`` that says why.
    """

    def sample_mask(self, shape, offset):
        num_cols = shape[-2]
        fraction_low, acceleration = self.choose_acceleration()
        n_low = round(num_cols * fraction_low)
        target = round(num_cols / acceleration)
        n_low = max(min(n_low, target), 1)
        adjusted_target = target - n_low
        adjusted_acceleration = 0
        if adjusted_target > 0:
            adjusted_acceleration = round(num_cols / adjusted_target)
        if adjusted_acceleration <= 0 and offset is None:
            raise MaskError(
                f"magic_fraction mask: the centre fraction {fraction_low} of {num_cols} columns "
                f"({round(num_cols * fraction_low)} lines) uses the whole budget of "
                f"{num_cols}/{acceleration} = {target} columns, leaving none for the acceleration "
                f"pattern; lower the centre fraction or the acceleration")
        center = self.reshape_mask(self.calculate_center_mask(shape, n_low), shape)
        accel = self.reshape_mask(self.calculate_acceleration_mask(num_cols, adjusted_acceleration, offset, n_low), shape)
        return center, accel, n_low


class GaussianMaskFunc(MaskFunc):
    """1-D variable-density Gaussian column mask (score-MRI style), exact column count.

    Columns outside the fully sampled centre are drawn without replacement with probability
    proportional to a Gaussian of std ``std_fraction × num_cols`` around the centre, so that the
    total is ``round(num_cols / acceleration)``. ``achieved_acceleration`` is set after each call.
    """

    def __init__(self, center_fractions, accelerations, allow_any_combination=False, seed=None,
                 std_fraction: float = 0.25):
        super().__init__(center_fractions, accelerations, allow_any_combination, seed)
        self.std_fraction = std_fraction
        self.achieved_acceleration = None

    def calculate_acceleration_mask(self, num_cols, acceleration, offset, num_low_frequencies):
        target = round(num_cols / acceleration)
        n_extra = max(target - num_low_frequencies, 0)
        pad = (num_cols - num_low_frequencies + 1) // 2
        centre = np.zeros(num_cols, bool)
        centre[pad:pad + num_low_frequencies] = True
        x = np.arange(num_cols) - (num_cols - 1) / 2
        w = np.exp(-0.5 * (x / (self.std_fraction * num_cols)) ** 2)
        w[centre] = 0
        mask = np.zeros(num_cols, np.float32)
        if n_extra > 0:
            picks = self.rng.choice(num_cols, size=min(n_extra, int((w > 0).sum())), replace=False, p=w / w.sum())
            mask[picks] = 1
        self.achieved_acceleration = num_cols / float((mask.astype(bool) | centre).sum())
        return mask


class PoissonMaskFunc:
    """2-D Poisson-disc mask (``sigpy.mri.poisson``) with a fully sampled centre square.

    ``__call__(shape, offset=None, seed=None)`` returns ``(mask (1, H, W, 1) float32, calib_lines)``
    for k-space of shape ``(..., H, W, 2)``; ``achieved_acceleration`` is set after each call.
    """

    def __init__(self, center_fractions, accelerations, seed: Optional[int] = None):
        self.center_fractions, self.accelerations = list(center_fractions), list(accelerations)
        self.rng = np.random.RandomState(seed)
        self.achieved_acceleration = None

    def __call__(self, shape, offset=None, seed: Seed = None):
        import sigpy.mri

        if len(shape) < 3:
            raise ValueError("Shape should have 3 or more dimensions")
        h, w = shape[-3], shape[-2]
        with _temp_seed(self.rng, seed):
            i = self.rng.randint(len(self.accelerations))
            sp_seed = int(self.rng.randint(0, 2 ** 31 - 1))
        accel, cf = self.accelerations[i], self.center_fractions[i]
        calib = max(int(round(min(h, w) * cf)), 2)
        mask = sigpy.mri.poisson((h, w), accel, calib=(calib, calib), dtype=np.float32, seed=sp_seed)
        mask = (np.abs(mask) > 0).astype(np.float32)
        self.achieved_acceleration = mask.size / mask.sum()
        out_shape = [1] * len(shape)
        out_shape[-3], out_shape[-2] = h, w
        return torch.from_numpy(mask.reshape(out_shape)), calib


MASK_TYPES = {
    "random": RandomMaskFunc,
    "equispaced": EquiSpacedMaskFunc,
    "equispaced_fraction": EquispacedMaskFractionFunc,
    "magic": MagicMaskFunc,
    "magic_fraction": MagicMaskFractionFunc,
    "gaussian": GaussianMaskFunc,
    "poisson": PoissonMaskFunc,
}


class MixedMaskFunc:
    """One of several mask functions per call: the family is drawn from the call's seed, and the chosen
    function gets a seed derived from it (not the same seed, which would tie its own first draw — the
    acceleration — to the family). Training draws masks of several families with this."""

    def __init__(self, funcs: Sequence, seed: Optional[int] = None):
        if not funcs:
            raise ValueError("MixedMaskFunc needs at least one mask function")
        self.funcs = list(funcs)
        self.rng = np.random.RandomState(seed)

    def __call__(self, shape: Sequence[int], offset: Optional[int] = None, seed: Seed = None):
        with _temp_seed(self.rng, seed):
            k = self.rng.randint(len(self.funcs))
            sub = int(self.rng.randint(2 ** 31 - 1))
        return self.funcs[k](shape, offset=offset, seed=None if seed is None else sub)


def create_mask_for_mask_type(mask_type_str: str, center_fractions: Sequence[float],
                              accelerations: Sequence[int]):
    """fastMRI's factory, extended with ``gaussian`` and ``poisson``."""
    if mask_type_str not in MASK_TYPES:
        raise ValueError(f"{mask_type_str} not supported")
    return MASK_TYPES[mask_type_str](center_fractions, accelerations)


def mask_2d(mask_func, kspace_shape: Sequence[int], seed: Seed = None, offset=None) -> tuple[torch.Tensor, int]:
    """Mask as a ``(H, W)`` float tensor for k-space ``(..., H, W)`` complex (columns or 2-D)."""
    h, w = kspace_shape[-2], kspace_shape[-1]
    m, n_low = mask_func((h, w, 2), offset=offset, seed=seed)
    m = m.reshape(m.shape[-3], m.shape[-2]) if m.shape[-3] == h else m.reshape(1, w)
    return m.expand(h, w).to(torch.float32).contiguous(), n_low


def _centre_block(mask: np.ndarray) -> np.ndarray:
    """The fully sampled centre of a 2-D mask ``(H, W)`` (the auto-calibration region), as a boolean
    map: for line masks (every row alike) the contiguous run of sampled columns through the centre,
    otherwise the largest fully sampled square around the centre."""
    from mrirecon.physics.coils import acs_range

    h, w = mask.shape
    out = np.zeros_like(mask, dtype=bool)
    if (mask == mask[:1]).all():
        r = acs_range(torch.from_numpy(np.ascontiguousarray(mask[0])))
        if r is not None:
            out[:, r[0]:r[1] + 1] = True
        return out
    cy, cx = h // 2, w // 2
    r = 0
    while r < min(cy, cx) and mask[cy - r:cy + r + 1, cx - r:cx + r + 1].all():
        r += 1
    if r:
        out[cy - r + 1:cy + r, cx - r + 1:cx + r] = True
    return out


def holdout_splits(mask, folds: int = 3, fraction: float = 0.15, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """K-space hold-out sets of a sampling mask ``(H, W)`` (disjoint while the candidates last) for validating a reconstruction on
    the data itself (self-supervised, as in SSDU-style splits): ``folds`` pairs ``(keep, held)`` of
    boolean ``(H, W)`` masks with ``keep | held == mask``, each holding out ``fraction`` (at least one) of the sampled
    lines (line masks: whole columns) or samples (2-D masks) outside the fully sampled centre, which is
    always kept (coil calibration and the low frequencies stay). Seeded: the same mask gives the same
    splits. Empty when there is nothing to hold out."""
    m = torch.as_tensor(mask).bool().cpu().numpy()
    if m.ndim == 1:
        m = np.broadcast_to(m, (1, m.shape[0]))
    centre = _centre_block(m)
    lines = bool((m == m[:1]).all())
    cand = np.flatnonzero(m[0] & ~centre[0]) if lines else np.flatnonzero((m & ~centre).ravel())
    n = max(1, int(round(fraction * len(cand))))
    if len(cand) - n < 1:
        return []
    perm = np.random.default_rng(seed).permutation(cand)
    out = []
    for f in range(folds):
        pick = perm[f * n:(f + 1) * n] if (f + 1) * n <= len(perm) else np.random.default_rng(seed + f).choice(cand, n, replace=False)
        held = np.zeros_like(m)
        if lines:
            held[:, pick] = True
        else:
            held.reshape(-1)[pick] = True
        held &= m
        out.append((torch.from_numpy(m & ~held), torch.from_numpy(held)))
    return out
