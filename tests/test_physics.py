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
    m8, _ = mask_2d(RandomMaskFunc([0.03], [8]), k.shape, seed=0)
    maps8, info8 = estimate_maps(k * m8, m8[0])  # 3 ACS lines: too few for ESPIRiT's kernel
    assert info8["method"] == "lowres" and info8["acs_lines"] < 4
    with pytest.raises(ValueError, match="at least 4 ACS lines"):
        estimate_maps(k * m8, m8[0], method="espirit")
    with pytest.raises(ValueError, match="unknown coil-map method"):
        estimate_maps(k * m, m[0], method="bart")


@pytest.mark.parametrize("snr,accel,centre", [(50, 4, 0.08), (30, 8, 0.04)])
def test_espirit_rectangular_calibration_beats_square(snr, accel, centre):
    """Few ACS lines (10 at R=4, 5 at R=8 on 128 lines) and localised coils: ESPIRiT calibrated on the ACS
    lines × the readout, with the noise-level threshold, spans the noise-free coil images far better than
    sigpy's square calibration region (or the low-resolution fallback below 8 lines)."""
    from mrirecon.data.synth import SimConfig, simulate_kspace
    from mrirecon.physics.coils import espirit_kernel_width, span_residual

    img = np.zeros((1, 128, 128), np.float32)
    yy, xx = np.mgrid[:128, :128]
    img[0][((yy - 64) / 52) ** 2 + ((xx - 64) / 44) ** 2 < 1] = 1.0
    img[0][((yy - 50) / 12) ** 2 + ((xx - 70) / 9) ** 2 < 1] = 0.5
    k, _ = simulate_kspace(img, SimConfig(coils=8, snr_db=snr, coil_radius=0.8, seed=3))
    clean, _ = simulate_kspace(img, SimConfig(coils=8, snr_db=300, coil_radius=0.8, seed=3))
    m, _ = mask_2d(RandomMaskFunc([centre], [accel]), k.shape, seed=1)
    ours, info = estimate_maps(k[0] * m, m[0])
    assert info["method"] == "espirit"
    assert info["kernel"][1] == espirit_kernel_width(info["acs_lines"])
    other = estimate_maps(k[0] * m, m[0], method="sigpy" if info["acs_lines"] >= 8 else "lowres")[0]
    coil_images = ifft2c(clean[0])
    r_ours, r_other = span_residual(ours, coil_images), span_residual(other, coil_images)
    assert r_ours < 0.05 and r_ours < 0.5 * r_other, (r_ours, r_other)


def test_espirit_image_operator_matches_kernel_sum():
    """The image-domain ESPIRiT operator built from the kernels' autocorrelation equals Σ_k a_k a_kᴴ with
    a_k the zero-padded, inverse-FFT'd kernels (sigpy's construction); the maps are its top eigenvectors."""
    from mrirecon.physics.coils import acs_range, espirit

    from mrirecon.data.synth import birdcage_maps

    c, h, w = 4, 24, 20
    yy, xx = torch.meshgrid(torch.arange(h) - 12.0, torch.arange(w) - 10.0, indexing="ij")
    obj = (1 + 0.3 * torch.cos(yy / 3)) * ((yy / 10) ** 2 + (xx / 8) ** 2 < 1)
    noise = torch.randn((2, c, h, w), generator=torch.Generator().manual_seed(5))
    k = fft2c(birdcage_maps(c, h, w, 1.0) * obj.to(torch.complex64)) + 1e-3 * torch.complex(noise[0], noise[1])
    maps, info = espirit(k, acs_range(torch.ones(w)), kernel=(4, 3), read_width=h, sigma=0.0, crop=0.5)
    # direct construction (float64)
    kk = k.to(torch.complex128)
    mat = kk.unfold(1, 4, 1).unfold(2, 3, 1).permute(1, 2, 0, 3, 4).reshape(-1, c * 12)
    _, s, vh = torch.linalg.svd(mat, full_matrices=False)
    v = vh[s > 1e-3 * s[0]].reshape(-1, c, 4, 3)
    pad = torch.zeros((len(v), c, h, w), dtype=torch.complex128)
    pad[:, :, h // 2 - 2:h // 2 + 2, w // 2 - 1:w // 2 + 2] = v
    img = ifft2c(pad)
    aha = torch.einsum("kcxy,kdxy->xycd", img, img.conj()) * (h * w / 12)
    top = torch.linalg.eigh(aha)[1][..., -1]
    top = top * torch.conj(top[..., :1] / top[..., :1].abs())
    inside = maps.abs().sum(0) > 0
    assert info["kernels_kept"] == len(v) < c * 12 and inside.float().mean() > 0.3
    err = (maps.permute(1, 2, 0)[inside].to(torch.complex128) - top[inside]).abs()
    assert float(err.median()) < 1e-4 and float(err.max()) < 1e-2, (float(err.median()), float(err.max()))  # float32 eigh


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
