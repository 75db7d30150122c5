"""GSURE (recon.sure): the risk estimate against the true image error, the residual noise level, and its
use by ``cs --lamda sure`` and ``unet --dc-l1 sure``."""
import math

import numpy as np
import pytest
import torch

from mrirecon.data.masks import RandomMaskFunc, mask_2d
from mrirecon.models.boundary import complex_to_channels
from mrirecon.physics import MultiCoilMRI, SingleCoilMRI, normalise_maps
from mrirecon.recon import cs, sure, unet

N = 32


def _image(batch=1):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, N), torch.linspace(-1, 1, N), indexing="ij")
    head = ((xx / 0.8) ** 2 + (yy / 0.9) ** 2 < 1).float()
    inner = ((xx - 0.2) ** 2 + (yy + 0.1) ** 2 < 0.1).float() + 0.5 * ((xx + 0.3) ** 2 + (yy - 0.3) ** 2 < 0.05).float()
    img = head * (0.5 + inner) * torch.exp(0.4j * (xx + yy))
    return img.to(torch.complex64).expand(batch, N, N).clone()


def _operator(coils=4, accel=2, batch=1):
    """Single-coil, or SENSE with spatially varied random maps (well conditioned: GSURE's setting)."""
    mask, _ = mask_2d(RandomMaskFunc([0.2], [accel]), (N, N), seed=4)
    if coils == 1:
        return SingleCoilMRI(mask)
    g = torch.Generator().manual_seed(3)
    maps = torch.complex(torch.randn(coils, N, N, generator=g), torch.randn(coils, N, N, generator=g)) + 2
    return MultiCoilMRI(mask, normalise_maps(maps).expand(batch, coils, N, N).clone())


def _measure(op, x, sigma, seed):
    g = torch.Generator().manual_seed(seed)
    clean = op.forward(x)
    n = torch.complex(torch.randn(clean.shape, generator=g), torch.randn(clean.shape, generator=g)) * (sigma / 2 ** 0.5)
    return clean + n * (clean != 0)


def test_gsure_is_unbiased_for_linear_estimators_and_ranks_them():
    op, x, sigma = _operator(), _image(), 0.05
    mus = (1e-3, 0.05, 1.0)  # noise-dominated, balanced, bias-dominated
    est_mean, true_mean = np.zeros(len(mus)), np.zeros(len(mus))
    draws = 30
    for d in range(draws):
        y = _measure(op, x, sigma, seed=d)
        g = sure.GSURE(op, y, torch.tensor([sigma]), seed=100 + d, use_residual=False)  # the estimator itself
        for j, mu in enumerate(mus):
            h = op.cg_solve(y, torch.zeros_like(x), mu, iters=100, tol=1e-9)
            hp = op.cg_solve(g.y_perturbed, torch.zeros_like(x), mu, iters=100, tol=1e-9)
            est_mean[j] += (float(g.risk(h, hp)[0]) + float(x.abs().pow(2).sum())) / draws
            true_mean[j] += float((h - x).abs().pow(2).sum()) / draws
    assert np.allclose(est_mean, true_mean, rtol=0.1), (est_mean, true_mean)
    assert list(np.argsort(est_mean)) == list(np.argsort(true_mean))
    assert true_mean.min() < 0.8 * true_mean.max()  # the weights differ: the ranking is a real test


def test_gsure_combination_of_two_estimators_beats_both_and_stays_on_the_simplex():
    op, x, sigma = _operator(), _image(), 0.05
    mus = (1e-3, 1.0)  # noisy and over-smoothed: their errors differ, so a mixture beats both
    true_err, comb_err, comb_risk, interior = np.zeros(2), 0.0, 0.0, 0
    draws = 12
    for d in range(draws):
        y = _measure(op, x, sigma, seed=d)
        g = sure.GSURE(op, y, torch.tensor([sigma]), seed=100 + d, use_residual=False)
        hs = [op.cg_solve(y, torch.zeros_like(x), mu, iters=100, tol=1e-9) for mu in mus]
        hps = [op.cg_solve(g.y_perturbed, torch.zeros_like(x), mu, iters=100, tol=1e-9) for mu in mus]
        img, w, r = g.combine(hs, hps)
        assert len(w) == 2 and min(w) >= 0 and abs(sum(w) - 1) < 1e-9
        assert r <= min(float(g.risk(h, hp)[0]) for h, hp in zip(hs, hps)) + 1e-6 * abs(r)
        interior += 0 < w[0] < 1
        true_err += np.array([float((h - x).abs().pow(2).sum()) for h in hs]) / draws
        comb_err += float((img - x).abs().pow(2).sum()) / draws
        comb_risk += (r + float(x.abs().pow(2).sum())) / draws
        one, w1, r1 = g.combine(hs[:1], hps[:1])  # one candidate: itself, with its own risk
        assert w1 == [1.0] and torch.equal(one, hs[0]) and math.isclose(r1, float(g.risk(hs[0], hps[0])[0]), rel_tol=1e-4)
    assert interior == draws
    assert comb_err < 0.9 * true_err.min(), (comb_err, true_err)
    assert math.isclose(comb_risk, comb_err, rel_tol=0.15), (comb_risk, comb_err)  # its own estimate tracks it
    with pytest.raises(ValueError, match="one perturbed"):
        g.combine(hs, hps[:1])
    with pytest.raises(ValueError, match="not finite"):
        g.combine([hs[0] * float("nan")], hps[:1])



def test_sure_steps_aside_where_the_coil_maps_do_not_explain_the_data():
    """Data made with maps 5 % off the operator's: the least-squares residual is ~1.7x the noise level and the
    misfit ~5 % of the least-squares image, so GSURE (which would measure the error against x + (AᴴA)⁻¹Aᴴe) says
    it cannot rank; with the right maps it can, and so it can where a misfit is under 1 % of x_ML (high SNR)."""
    op, x, sigma = _operator(), _image(), 0.03
    g = torch.Generator().manual_seed(11)
    other = torch.complex(torch.randn(4, N, N, generator=g), torch.randn(4, N, N, generator=g))
    true_op = MultiCoilMRI(op.mask[:, 0], normalise_maps(op.maps[0] + 0.05 * other)[None])
    y = _measure(true_op, x, sigma, seed=2)
    right = sure.GSURE(true_op, y, torch.tensor([sigma]))
    assert 0.9 < float(right.misfit[0]) < sure.MISFIT_MAX and bool(right.reliable[0]) and right.why_unreliable() is None
    op.with_noise(torch.tensor([sigma]))
    wrong = sure.GSURE(op, y, torch.tensor([sigma]))
    assert float(wrong.noise_fraction[0]) <= sure.NOISE_FRACTION_MAX  # not the noise: the model
    assert float(wrong.misfit[0]) > sure.MISFIT_MAX and float(wrong.misfit_share[0]) > sure.MISFIT_SHARE_MAX
    assert not bool(wrong.reliable[0]) and not bool(wrong.model_fits[0])
    assert "coil maps" in wrong.why_unreliable(0) and "noise is" not in wrong.why_unreliable(0)
    r = cs.solve(op, y, options=cs.CSOptions(lamda="sure"))
    assert "coil maps" in r.info["lamda_rule"][0] and "sure" not in r.info
    net = _Net(x, good=False)
    s = unet.solve(op, y, net, options=unet.UNetOptions(passes=1, dc_l1="sure"))
    held = unet.solve(op, y, net, options=unet.UNetOptions(passes=1, dc_l1="auto"))
    rec = s.info["dc_sure"][0]
    assert rec["misfit"] > sure.MISFIT_MAX and rec["misfit_share"] > sure.MISFIT_SHARE_MAX and "held_out" in rec
    assert "coil maps" in rec["why"]
    assert torch.allclose(s.image, held.image, atol=1e-6)
    # a smaller map error at higher SNR: the residual is still ~1.9x the noise, but the misfit is under 1 % of x_ML
    mild = MultiCoilMRI(op.mask[:, 0], normalise_maps(op.maps[0] + 0.02 * other)[None])
    g2 = sure.GSURE(op, _measure(mild, x, 0.01, seed=2), torch.tensor([0.01]))
    assert float(g2.misfit[0]) > sure.MISFIT_MAX and float(g2.misfit_share[0]) < sure.MISFIT_SHARE_MAX
    assert bool(g2.reliable[0])


def test_residual_sigma_and_applicability():
    x = _image(2)
    op = _operator(coils=4, accel=2, batch=2)
    y = _measure(op, x, 0.02, seed=1)
    x_ml = op.cg_solve(y, torch.zeros_like(x), 0.0, iters=200, tol=1e-8)
    s = sure.residual_sigma(op, y, x_ml)
    assert torch.allclose(s, torch.full((2,), 0.02), rtol=0.08), s
    assert sure.applicable(op, 2) == [True, True]
    assert sure.applicable(_operator(coils=1), 1) == [False]  # undersampled single-coil: only the sampled k-space
    few = _operator(coils=2, accel=4)  # 2 coils x ~30 % of the lines: fewer measurements than pixels
    assert sure.applicable(few, 1) == [False]
    square = _operator(coils=3, accel=2)  # about as many measurements as pixels (as the Siemens phantom at R=2):
    m, n = sure._counts(square, 0)  # x_ML is amplified noise and σ cannot be checked on the residual
    assert 1.0 <= m / n < sure.RESIDUAL_MIN_RATIO and sure.applicable(square, 1) == [False]
    assert torch.isnan(sure.residual_sigma(few, few.forward(x[:1]), x[:1])).all()
    # the residual level replaces the given one (an overestimate, as the k-space estimate gives at high SNR)
    g = sure.GSURE(op, y, torch.tensor([0.05, 0.05]))
    assert torch.allclose(g.sigma, s)
    with pytest.raises(ValueError, match="positive noise level"):
        sure.GSURE(op, y, torch.tensor([0.0, 0.02]))


@pytest.mark.parametrize("sigma", [0.003, 0.1])
def test_cs_sure_chooses_a_lamda_at_least_as_good_as_auto(sigma):
    """Over 6 noise draws: never worse than auto (by 2 %), and on average within 10 % of the truth's best λ among
    those tried (single draws: within 35 %; one probe's divergence is noisy where noise dominates)."""
    x = _image()
    err = lambda z: float((z - x).abs().pow(2).sum())  # noqa: E731
    to_best = []
    for seed in range(6):
        op = _operator(coils=4, accel=2)
        y = _measure(op, x, sigma, seed=seed)
        op.with_noise(torch.tensor([sigma]))
        auto = cs.solve(op, y, options=cs.CSOptions(lamda="auto"))
        r = cs.solve(op, y, options=cs.CSOptions(lamda="sure"))
        assert r.info["lamda_rule"] == ["sure"]
        tried = r.info["sure"][0]["lamda"]
        assert len(tried) == len(cs.SURE_FACTORS) + 2 * len(cs.SURE_REFINE) and r.info["lamda"][0] in tried
        assert err(r.image) <= 1.02 * err(auto.image)
        errs = [err(cs.solve(op, y, options=cs.CSOptions(lamda=v)).image) for v in tried]
        to_best.append(err(r.image) / min(errs))
    assert np.mean(to_best) <= 1.10 and max(to_best) <= 1.35, to_best
    again = cs.solve(op, y, options=cs.CSOptions(lamda="sure"))
    assert torch.equal(again.image, r.image)


def test_cs_sure_falls_back_to_auto_where_gsure_does_not_apply():
    op, x = _operator(coils=1), _image()
    y = _measure(op, x, 0.02, seed=3)
    r = cs.solve(op, y, options=cs.CSOptions(lamda="sure"))
    assert r.info["lamda_rule"][0].startswith("auto")
    assert torch.equal(r.image, cs.solve(op, y, options=cs.CSOptions(lamda="auto")).image)


class _Net(torch.nn.Module):
    """A stand-in U-Net: ``quality`` 1 returns the truth fitted to the input's scale, 0 a shifted, dimmed
    copy (a poor network)."""

    def __init__(self, truth, good):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.unit = complex_to_channels(truth if good else 0.5 * truth.roll(3, -1))
        self.meta = {}

    def forward(self, inp):
        a = (inp[:, :2] * self.unit).flatten(1).sum(1) / self.unit.pow(2).flatten(1).sum(1)
        return self.unit * a[:, None, None, None] + 0 * self.w


def test_unet_sure_consistency_picks_what_the_data_support():
    x = _image()
    op = _operator()
    err = lambda z: float((z - x).abs().pow(2).sum())  # noqa: E731
    # clean data, a poor network: GSURE leaves the network for compressed sensing, and the error drops
    y = _measure(op, x, 1e-3, seed=5)
    op.with_noise(torch.tensor([1e-3]))
    poor = _Net(x, good=False)
    base = unet.solve(op, y, poor, options=unet.UNetOptions(passes=1))
    s = unet.solve(op, y, poor, options=unet.UNetOptions(passes=1, dc_l1="sure"))
    rec = s.info["dc_sure"][0]
    assert rec["estimate"] in ("l1", "cs") and set(rec["weights"]) == {"cg", "l1", "cs"}
    assert abs(sum(rec["weights"].values()) - 1) < 1e-3 and min(rec["weights"].values()) >= 0
    assert set(rec["lamda"]) == {"l1", "cs"} and rec["mu"] > 0
    assert err(s.image) < err(base.image)
    assert s.nfe == base.nfe + 1  # the probe's pass
    # noisy data, a perfect network: the CG solve around it (or CS pulled to it) stays, nothing worse
    y = _measure(op, x, 0.2, seed=6)
    op.with_noise(torch.tensor([0.2]))
    good = _Net(x, good=True)
    base = unet.solve(op, y, good, options=unet.UNetOptions(passes=1))
    s = unet.solve(op, y, good, options=unet.UNetOptions(passes=1, dc_l1="sure"))
    assert s.info["dc_sure"][0]["estimate"] in ("cg", "l1")
    assert err(s.image) <= 1.05 * err(base.image)


def test_unet_sure_consistency_leaves_single_coil_alone():
    x = _image()
    op = SingleCoilMRI(mask_2d(RandomMaskFunc([0.2], [4]), (N, N), seed=4)[0])
    y = _measure(op, x, 0.02, seed=7)
    net = _Net(x, good=False)
    base = unet.solve(op, y, net)
    s = unet.solve(op, y, net, options=unet.UNetOptions(dc_l1="sure"))
    assert torch.equal(s.image, base.image) and "dc_sure" not in s.info


def test_sure_steps_aside_where_the_least_squares_image_is_mostly_noise():
    op, x = _operator(), _image()
    y = _measure(op, x, 1.0, seed=8)  # noise energy of x_ML several times the image's
    op.with_noise(torch.tensor([1.0]))
    g = sure.GSURE(op, y, torch.tensor([1.0]))
    assert float(g.noise_fraction[0]) > sure.NOISE_FRACTION_MAX and not bool(g.reliable[0])
    r = cs.solve(op, y, options=cs.CSOptions(lamda="sure"))
    assert r.info["lamda_rule"][0].startswith("auto (GSURE unreliable") and "sure" not in r.info
    assert torch.equal(r.image, cs.solve(op, y, options=cs.CSOptions(lamda="auto")).image)
    # the U-Net falls back to the held-out k-space choice (dc_l1="auto"), which needs no x_ML
    net = _Net(x, good=False)
    held = unet.solve(op, y, net, options=unet.UNetOptions(passes=1, dc_l1="auto"))
    s = unet.solve(op, y, net, options=unet.UNetOptions(passes=1, dc_l1="sure"))
    rec = s.info["dc_sure"][0]
    assert "unreliable" in rec and rec["held_out"]["mu"] == held.info["dc_l1_mu"][0]
    assert rec["estimate"] == ("cg" if rec["held_out"]["mu"] is None else "l1")
    assert torch.allclose(s.image, held.image, atol=1e-6) and s.nfe == held.nfe
    assert rec["estimate"] == "l1"  # here it leaves the CG solve: the fall-back is not the CG solve again
    assert not torch.allclose(s.image, unet.solve(op, y, net, options=unet.UNetOptions(passes=1)).image, atol=1e-4)
    # a well-measured item of the same operator is reliable
    assert bool(sure.GSURE(op, _measure(op, x, 0.01, seed=9), torch.tensor([0.01])).reliable[0])


def _soft(z: torch.Tensor, t: float) -> torch.Tensor:
    mag = z.abs()
    return torch.where(mag > t, z * (1 - t / mag.clamp_min(1e-12)), torch.zeros_like(z))


def test_probe_step_keeps_the_divergence_of_a_soft_threshold_unbiased():
    """The divergence by finite difference is a secant: across too large a step the soft threshold bends and
    the estimate is biased up (that made GSURE prefer λ up to 2× too large on L1-wavelet solves, round 20).
    For complex soft thresholding of the least-squares image at σ, with a faint object (many pixels near the
    threshold), the exact divergence is Σ_{|z|>t} (2 − t/|z|) over the pixels (real components; fully sampled,
    orthonormal coil maps, so x_ML's noise is white with unit variance per real component of the probe).
    Over 16 probes ``EPS_REL`` is within 4 % of it; 0.5σ, the earlier step, overshoots by more than 10 %
    (measured: +0.0 ± 1 % and +18 %)."""
    op = _operator(coils=4, accel=1)
    x, sigma = _image() * 0.1, 0.05
    y = _measure(op, x, sigma, seed=0)
    t = sigma
    errs = {}
    for eps_rel in (sure.EPS_REL, 0.5):
        est_div, exact = [], []
        for s in range(16):
            g = sure.GSURE(op, y, torch.tensor([sigma]), seed=100 + s, eps_rel=eps_rel, use_residual=False)
            h = _soft(g.x_ml, t)
            hp = _soft(op.cg_solve(g.y_perturbed, torch.zeros_like(x), 0.0, iters=200, tol=1e-9), t)
            est_div.append(float(g.divergence(h, hp)[0]))
            z = g.x_ml.abs()
            exact.append(float(torch.where(z > t, 2 - t / z.clamp_min(1e-12), torch.zeros_like(z)).sum()))
        errs[eps_rel] = np.mean(est_div) / np.mean(exact) - 1
    assert abs(errs[sure.EPS_REL]) < 0.04, errs
    assert errs[0.5] > 0.1, errs


def test_choose_refines_in_stages_around_the_best_so_far():
    """``refine`` as a sequence: each stage tries its values around the minimum so far (cs's λ: ×2, then ×√2, 9 λ)."""

    class Quadratic:  # a stand-in estimator whose risk is (setting − 1.3)²
        y_perturbed = torch.zeros(1)

        def risk(self, h, hp):
            return (h.reshape(1, -1).mean(1) - 1.3) ** 2

    recon = lambda v, y: torch.full((1, 2), float(v))  # noqa: E731
    grid = [1 / 16, 1 / 4, 1.0, 4.0, 16.0]
    stages = [lambda v, r=r: (v / r, v * r) for r in cs.SURE_REFINE]
    v, img, tried, risks = sure.choose(grid, recon, torch.zeros(1), Quadratic(), refine=stages)
    assert len(tried) == 9 and v == pytest.approx(2 ** 0.5) and float(img[0, 0]) == pytest.approx(2 ** 0.5)
    one, _, tried1, _ = sure.choose(grid, recon, torch.zeros(1), Quadratic(), refine=stages[0])  # one stage: ×2 only
    assert len(tried1) == 7 and one == 1.0
