import numpy as np
import pytest
import torch

from mrirecon.data.masks import RandomMaskFunc, mask_2d
from mrirecon.physics import (Downsample, MultiCoilMRI, SingleCoilMRI, center_crop, fft2c, ifft2c, normalise_maps,
                              rss)
from mrirecon.physics.coils import acs_lines, estimate_maps

g = torch.Generator().manual_seed(0)


def crandn(*shape):
    return torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))


def inner(a, b):
    return torch.vdot(a.flatten(), b.flatten())


def test_fft_matches_fastmri():
    fastmri = pytest.importorskip("fastmri")
    x = crandn(3, 20, 17)
    ref = fastmri.fft2c(torch.view_as_real(x))
    assert torch.allclose(torch.view_as_real(fft2c(x)), ref, atol=1e-5)
    ref_i = fastmri.ifft2c(torch.view_as_real(x))
    assert torch.allclose(torch.view_as_real(ifft2c(x)), ref_i, atol=1e-5)
    assert torch.allclose(ifft2c(fft2c(x)), x, atol=1e-5)
    assert torch.allclose(fft2c(x).norm(), x.norm(), rtol=1e-5)  # orthonormal
    assert torch.allclose(rss(torch.view_as_real(x).unsqueeze(0)[..., 0].abs(), 1), fastmri.rss(torch.view_as_real(x).unsqueeze(0)[..., 0].abs(), 1))
    assert center_crop(x, (10, 8)).shape == (3, 10, 8)


def _mask(b=2, h=32, w=32):
    m, _ = mask_2d(RandomMaskFunc([0.08], [4]), (h, w), seed=1)
    return m[None].repeat(b, 1, 1)


def _maps(b=2, c=4, h=32, w=32):
    return normalise_maps(crandn(b, c, h, w))


def operators():
    return [SingleCoilMRI(_mask()), MultiCoilMRI(_mask(), _maps()), Downsample(2), Downsample(4)]


@pytest.mark.parametrize("op", operators(), ids=["single", "multi", "sr2", "sr4"])
def test_adjoint_identity(op):
    x = crandn(2, 32, 32)
    y = op.forward(crandn(2, 32, 32))
    y = crandn(*y.shape)
    lhs, rhs = inner(op.forward(x), y), inner(x, op.adjoint(y))
    assert torch.allclose(lhs, rhs, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("op", operators(), ids=["single", "multi", "sr2", "sr4"])
@pytest.mark.parametrize("mode", [("replace", 1.0), ("soft", 0.5), ("prox", 0.1)])
def test_consistency_non_expansive_and_exact(op, mode):
    x_true = crandn(2, 32, 32)
    if isinstance(op, MultiCoilMRI):  # a consistent image lives on the maps' support
        x_true = x_true * (op.maps.abs() ** 2).sum(1)
    y = op.forward(x_true)
    for _ in range(5):
        a, b = crandn(2, 32, 32), crandn(2, 32, 32)
        pa, pb = op.consistency(a, y, *mode), op.consistency(b, y, *mode)
        assert (pa - pb).norm() <= (a - b).norm() * (1 + 1e-5)
    # idempotent on (fixed point at) consistent images
    assert torch.allclose(op.consistency(x_true, y, *mode), x_true, atol=1e-3 if mode[0] == "prox" else 1e-4)
    if mode[0] == "replace":
        x0 = crandn(2, 32, 32)
        px = op.consistency(x0, y)
        if isinstance(op, MultiCoilMRI):
            # SENSE: S^H F^H [(1-M) F S x + M y] is not an exact projection; repeated, it reduces the residual
            r0 = (op.forward(x0) - y).norm()
            r1 = (op.forward(px) - y).norm()
            assert r1 < r0
        else:
            assert torch.allclose(op.forward(px), y, atol=1e-4)  # exact on the measured samples


def test_operator_norm_le_one_and_gram_norm():
    for op in operators():
        x = crandn(1, 32, 32)
        for _ in range(30):  # power iteration on A^H A
            x = op.adjoint(op.forward(x))
            x = x / x.norm()
        assert op.forward(x).norm() <= 1 + 1e-4
        # the declared ‖A^H A‖ that RED-diff divides its data term by: exact for the single-coil and
        # downsampling operators, an upper bound (the coil maps' pointwise norm) for SENSE
        lam = op.adjoint(op.forward(x)).norm().item()
        if isinstance(op, MultiCoilMRI):
            assert 0.5 * op.gram_norm < lam <= op.gram_norm * (1 + 1e-4)
        else:
            assert lam == pytest.approx(op.gram_norm, rel=1e-3)


def test_maps_norm_check_and_batch_select():
    with pytest.raises(ValueError, match="sum_c"):
        MultiCoilMRI(_mask(), crandn(2, 4, 32, 32) * 3)
    op = MultiCoilMRI(_mask(), _maps())
    x = crandn(2, 32, 32)
    assert torch.allclose(op.select([1]).forward(x[1:]), op.forward(x)[1:], atol=1e-5)
    with pytest.raises(ValueError):
        Downsample(2).forward(crandn(1, 31, 32))
    with pytest.raises(ValueError):
        SingleCoilMRI(_mask()).consistency(x, x, "soft", 1.5)


def test_espirit_and_lowres_maps(phantoms):
    from mrirecon.data.synth import SimConfig, simulate_kspace

    k, _ = simulate_kspace(phantoms[:1], SimConfig(coils=4, snr_db=40))
    k = k[0]
    m, _ = mask_2d(RandomMaskFunc([0.25], [2]), k.shape, seed=0)
    assert acs_lines(m[0]) == 16
    maps, info = estimate_maps(k * m, m[0])
    assert info["method"] in ("espirit", "lowres") and info["coverage"] > 0.9
    assert maps.shape == k.shape
    s = (maps.abs() ** 2).sum(0)
    assert torch.all((s - 1).abs()[s > 0] < 1e-3)
    m8, _ = mask_2d(RandomMaskFunc([0.06], [8]), k.shape, seed=0)
    maps8, info8 = estimate_maps(k * m8, m8[0])
    assert info8["method"] == "lowres" and info8["acs_lines"] < 8


def test_single_coil_prox_closed_form_matches_cg():
    """The closed-form proximal step equals CG where CG is well conditioned, and is the exact
    projection limit (no drift) for tiny μ, per batch item."""
    from mrirecon.data.masks import RandomMaskFunc, mask_2d
    from mrirecon.physics import SingleCoilMRI
    from mrirecon.physics.linop import LinearOp

    m, _ = mask_2d(RandomMaskFunc([0.1], [4]), (32, 32), seed=1)
    op = SingleCoilMRI(m)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, 32, 32), generator=g, dtype=torch.complex64)
    y = op.forward(torch.randn((2, 32, 32), generator=g, dtype=torch.complex64))
    mu = torch.tensor([0.1, 2.0])
    closed = op.prox(x, y, mu)
    cg = LinearOp.prox(op, x, y, mu, iters=50)
    assert torch.allclose(closed, cg, atol=1e-4)
    tiny = op.prox(x, y, 1e-9)
    assert torch.allclose(op.forward(tiny), y, atol=1e-5)  # consistent
    assert torch.allclose(tiny, op.consistency(x, y), atol=1e-5)  # = the replacement map
