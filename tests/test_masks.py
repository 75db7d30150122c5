import itertools

import numpy as np
import pytest
import torch

fm = pytest.importorskip("fastmri.data.subsample")

from mrirecon.data import masks as M

FAMILIES = ["RandomMaskFunc", "EquiSpacedMaskFunc", "EquispacedMaskFractionFunc", "MagicMaskFunc", "MagicMaskFractionFunc"]
SHAPES = [(640, 368, 2), (15, 640, 372, 2), (1, 128, 128, 2), (320, 320, 2), (1, 64, 97, 2), (256, 255, 2)]
SETTINGS = [([0.08], [4]), ([0.04], [8]), ([0.08, 0.04], [4, 8]), ([0.16], [2])]


@pytest.mark.parametrize("family", FAMILIES)
def test_fastmri_bit_identical(family):
    n = 0
    for shape, (cf, acc), seed in itertools.product(SHAPES, SETTINGS, [0, 1, 42, (1, 2, 3), tuple(map(ord, "file1000001.h5"))]):
        for offset in [None, 0, 1, 3]:
            ours = getattr(M, family)(cf, acc)
            ref = getattr(fm, family)(cf, acc)
            try:
                r_mask, r_low = ref(shape, offset=offset, seed=seed)
            except ValueError:
                with pytest.raises(ValueError):
                    ours(shape, offset=offset, seed=seed)
                continue
            o_mask, o_low = ours(shape, offset=offset, seed=seed)
            assert o_low == r_low
            assert o_mask.dtype == r_mask.dtype and o_mask.shape == r_mask.shape
            assert torch.equal(o_mask, r_mask), (family, shape, cf, acc, seed, offset)
            n += 1
    assert n > 100


@pytest.mark.parametrize("family", FAMILIES)
def test_fastmri_stream_identical_without_seed(family):
    """Unseeded calls draw from the object's RNG in the same order as fastMRI."""
    ours, ref = getattr(M, family)([0.08, 0.04], [4, 8], seed=7), getattr(fm, family)([0.08, 0.04], [4, 8], seed=7)
    for shape in SHAPES * 3:
        assert torch.equal(ours(shape)[0], ref(shape)[0])


def test_factory_matches():
    for name in ["random", "equispaced", "equispaced_fraction", "magic", "magic_fraction"]:
        a = M.create_mask_for_mask_type(name, [0.08], [4])
        b = fm.create_mask_for_mask_type(name, [0.08], [4])
        assert type(a).__name__ == type(b).__name__
        assert torch.equal(a((320, 320, 2), seed=5)[0], b((320, 320, 2), seed=5)[0])
    with pytest.raises(ValueError):
        M.create_mask_for_mask_type("nope", [0.08], [4])


def test_magic_fraction_clear_error():
    shape = (128, 128, 2)
    with pytest.raises(ValueError):
        fm.MagicMaskFractionFunc([0.5], [4])(shape, seed=0)  # fastMRI: "high <= 0"
    with pytest.raises(M.MaskError, match="whole budget"):
        M.MagicMaskFractionFunc([0.5], [4])(shape, seed=0)


@pytest.mark.parametrize("acc", [4, 8])
def test_gaussian_mask_acceleration(acc):
    f = M.GaussianMaskFunc([0.08 if acc == 4 else 0.04], [acc])
    m, n_low = f((128, 128, 2), seed=3)
    assert m.shape == (1, 128, 1)
    assert abs(128 / m.sum().item() - acc) < 0.3
    assert abs(f.achieved_acceleration - 128 / m.sum().item()) < 1e-9
    c = (128 - n_low + 1) // 2
    assert m[0, c:c + n_low, 0].all()
    m2, _ = f((128, 128, 2), seed=3)
    assert torch.equal(m, m2)


def test_poisson_mask():
    f = M.PoissonMaskFunc([0.08], [6])
    m, calib = f((1, 96, 96, 2), seed=1)
    assert m.shape == (1, 96, 96, 1)
    assert 4.5 < f.achieved_acceleration < 7.5
    m2, _ = f((1, 96, 96, 2), seed=1)
    assert torch.equal(m, m2)
    h0 = (96 - calib) // 2
    assert m[0, h0 + 1:h0 + calib - 1, h0 + 1:h0 + calib - 1, 0].all()


def test_seed_from_filename_and_mask_2d():
    assert M.seed_from_filename("/a/b/file1.h5") == tuple(map(ord, "file1.h5"))
    m, _ = M.mask_2d(M.RandomMaskFunc([0.08], [4]), (8, 64, 80), seed=1)
    assert m.shape == (64, 80) and torch.all(m == m[0:1])
    p, _ = M.mask_2d(M.PoissonMaskFunc([0.08], [4]), (64, 80), seed=1)
    assert p.shape == (64, 80)
