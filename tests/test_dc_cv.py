"""The U-Net's data-consistency weight chosen on the data (k-space hold-out) and the multi-shift CG
behind it."""
import math

import pytest
import numpy as np
import torch

from mrirecon.data.masks import EquiSpacedMaskFunc, PoissonMaskFunc, RandomMaskFunc, holdout_splits, mask_2d
from mrirecon.models.boundary import complex_to_channels
from mrirecon.models.unet import prepare_input
from mrirecon.physics import MultiCoilMRI, SingleCoilMRI, normalise_maps
from mrirecon.recon import unet as unet_solver
from mrirecon.recon.unet import CV_MUS, UNetOptions, cv_dc_mu

H = 32


def _phantom(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, H), indexing="ij")
    blobs = sum(torch.exp(-((xx - a) ** 2 + (yy - c) ** 2) / 0.05) for a, c in torch.rand(4, 2, generator=g) - 0.5)
    base = ((xx ** 2 + yy ** 2) < 0.7).float() * (0.4 + blobs)
    return torch.stack([base * torch.exp(1j * 0.3 * xx * (i + 1)) for i in range(b)]).to(torch.complex64)


def _maps(b=2, c=4):
    g = torch.Generator().manual_seed(3)
    return normalise_maps(torch.complex(torch.randn(b, c, H, H, generator=g), torch.randn(b, c, H, H, generator=g)) + 3)


@pytest.mark.parametrize("mf", [RandomMaskFunc([0.15], [2]), EquiSpacedMaskFunc([0.15], [2])])
def test_holdout_splits_lines(mf):
    m, _ = mask_2d(mf, (H, H), seed=0)
    m = m.expand(H, H).bool()
    splits = holdout_splits(m, folds=3, fraction=0.2, seed=0)
    assert len(splits) == 3
    centre = m.clone()
    c = H // 2
    helds = []
    for keep, held in splits:
        assert torch.equal(keep | held, m) and not (keep & held).any() and held.any()
        assert (held == held[:1]).all()  # whole lines
        assert keep[:, c].all()  # the calibration centre stays
        helds.append(held[0])
    assert not (helds[0] & helds[1]).any()  # disjoint sets
    again = holdout_splits(m, folds=3, fraction=0.2, seed=0)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(splits, again))  # seeded
    assert holdout_splits(torch.ones(H, H), folds=2) == []  # fully sampled: nothing to hold out
    del centre


def test_holdout_splits_2d_mask():
    m, _ = mask_2d(PoissonMaskFunc([0.1], [3]), (H, H), seed=0)
    m = m.expand(H, H).bool() if m.dim() < 2 else m.bool()
    keep, held = holdout_splits(m, folds=2, fraction=0.1)[0]
    assert torch.equal(keep | held, m) and held.any() and not (held == held[:1]).all()
    assert keep[H // 2, H // 2]


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_multishift_cg_equals_cg_per_weight(kind):
    m, _ = mask_2d(RandomMaskFunc([0.2], [3]), (H, H), seed=1)
    x = _phantom()
    op = SingleCoilMRI(m) if kind == "single" else MultiCoilMRI(m, _maps())
    g = torch.Generator().manual_seed(0)
    y = op.forward(x) + 0.02 * op.forward(torch.complex(torch.randn(x.shape, generator=g), torch.randn(x.shape, generator=g)))
    u = 0.7 * x
    mus = [1e-3, 1e-2, 0.3, 3.0]
    for iters in (2, 20):
        xs = op.cg_solve_shifts(y, u, mus, iters)
        for j, mu in enumerate(mus):
            ref = op.cg_solve(y, u, mu, iters)
            assert (xs[j] - ref).abs().max() <= 1e-5 * ref.abs().max()


class _Fixed(torch.nn.Module):
    """A stand-in network whose estimate is a given image (at the input's scale)."""

    def __init__(self, images, scale):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.out = complex_to_channels(images / scale[:, None, None])
        self.meta = {}

    def forward(self, x):
        return self.out + 0 * self.w


class _Equivariant(torch.nn.Module):
    """A stand-in network that returns the given images fitted to the input's scale (least squares), as a
    trained network, which sees peak-normalised inputs, follows the scale of the lines it is given."""

    def __init__(self, images):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.unit = complex_to_channels(images)
        self.meta = {}

    def forward(self, x):
        a = (x[:, :2] * self.unit).flatten(1).sum(1) / self.unit.pow(2).flatten(1).sum(1)
        return self.unit * a[:, None, None, None] + 0 * self.w


def _problem(noise):
    m, _ = mask_2d(RandomMaskFunc([0.15], [2]), (H, H), seed=2)
    op = MultiCoilMRI(m, _maps())
    x = _phantom()
    g = torch.Generator().manual_seed(1)
    n = torch.complex(torch.randn(2, 4, H, H, generator=g), torch.randn(2, 4, H, H, generator=g))
    y = op.forward(x) + noise * x.abs().max() * n * op.mask
    return op, x, y


def test_cv_trusts_clean_data_over_a_poor_network():
    op, x, y = _problem(noise=1e-4)
    _, scale = prepare_input(op, y, None)
    net = _Fixed(0.5 * x.roll(3, -1), scale)  # a shifted, half-bright estimate: clearly wrong
    mu, mu_best = cv_dc_mu(op, y, net, UNetOptions())
    assert (mu <= mu_best).all()
    assert (mu <= 0.01).all(), mu
    r = unet_solver.solve(op, y, net)  # the default options use the hold-out choice
    folds = UNetOptions().cv_folds  # the weight's hold-out sets, then the passes' (two evaluations each)
    assert r.info["dc_mu"] == [float(v) for v in mu] and r.nfe == max(r.info["passes"]) + folds + 2 * folds
    err = lambda z: float((z - x).norm() / x.norm())  # noqa: E731
    assert err(r.image) < 0.5 * err(0.5 * x.roll(3, -1))
    assert "dc_l1_mu" not in r.info  # dc_l1 is off by default
    # clean data, a poor network: the held-out lines prefer compressed sensing to the CG solve around it
    l1 = unet_solver.solve(op, y, net, options=UNetOptions(dc_l1="auto"))
    assert all(m is not None for m in l1.info["dc_l1_mu"]) and l1.nfe == r.nfe + folds  # dc_l1's sets: one each
    assert err(l1.image) < err(r.image)
    # dc_l1_mu=dc: the same solve with the CG solve's weight, no held-out sets: the wavelet term on top of it
    d = unet_solver.solve(op, y, net, options=UNetOptions(dc_l1="auto", dc_l1_mu="dc"))
    assert d.info["dc_l1_mu"] == r.info["dc_mu"] and d.nfe == r.nfe
    assert err(d.image) < err(r.image)


def test_cv_trusts_a_good_network_over_noisy_data():
    op, x, y = _problem(noise=0.3)
    net = _Equivariant(x)  # the truth itself, at the scale of the lines it sees
    mu, _ = cv_dc_mu(op, y, net, UNetOptions())
    assert (mu >= 1.0).all(), mu
    r = unet_solver.solve(op, y, net)
    assert all(v is None or v >= 1.0 for v in r.info["dc_mu"])
    # a good network on noisy data: CS replaces the CG solve only with the strongest pull towards the network
    # (the wavelet term then removes noise the CG solve leaves), and is no worse
    l1 = unet_solver.solve(op, y, net, options=UNetOptions(dc_l1="auto"))
    assert all(m is None or m == max(unet_solver.L1_MUS) for m in l1.info["dc_l1_mu"])
    assert float((l1.image - x).norm()) <= float((r.image - x).norm())
    d = unet_solver.solve(op, y, net, options=UNetOptions(dc_l1="auto", dc_l1_mu="dc"))
    assert d.info["dc_l1_mu"] == r.info["dc_mu"]
    assert float((d.image - x).norm()) <= 1.05 * float((r.image - x).norm())
    trusting = op.cg_solve(y, r.image, 1e-3, 20)  # what trusting the data would give
    assert float((r.image - x).norm()) < 0.5 * float((trusting - x).norm())


def test_cv_single_coil_and_fully_sampled():
    m, _ = mask_2d(RandomMaskFunc([0.2], [3]), (H, H), seed=2)
    op, x = SingleCoilMRI(m), _phantom()
    y = op.forward(x)
    _, scale = prepare_input(op, y, None)
    net = _Fixed(0.5 * x, scale)
    net.meta = {"eps0_mean": 0.01}
    op.with_noise(0.01)
    # single-coil consistency only touches sampled entries, so held-out lines cannot rank mu: the noise rule
    cv = unet_solver.solve(op, y, net, options=UNetOptions(final_dc="cg", passes=1))
    auto = unet_solver.solve(op, y, net, options=UNetOptions(final_dc="cg", dc_mu="auto", passes=1))
    assert torch.equal(cv.image, auto.image) and cv.nfe == 1 and cv.info["dc_mu"] == auto.info["dc_mu"]
    full = SingleCoilMRI(torch.ones(H))
    mu, _ = cv_dc_mu(full, full.forward(x), _Fixed(0.5 * x, torch.ones(2)), UNetOptions())
    assert torch.equal(mu, torch.full((2,), CV_MUS[0]))  # nothing to hold out: the data decide
    assert math.isinf(CV_MUS[-1])


def test_noise_conditioned_unet_warm_start_and_input(tmp_path):
    """A conditioning channel added to a trained U-Net starts at zero weight (same output); the
    conditioning map follows the noise level the operator knows or estimates, never a hidden truth."""
    from mrirecon.models.io import save_model
    from mrirecon.models.unet import UNet, network_input
    from mrirecon.train.objectives import warm_start_unet

    torch.manual_seed(0)
    base = UNet(chans=4, num_pool_layers=2).eval()
    folder = save_model(base, tmp_path / "u", meta={"input": {"mode": "sense", "mu": 0.01, "iters": 5}})
    warm = warm_start_unet(str(folder), 1).eval()
    assert warm.cond_chans == 1
    op, x, y = _problem(noise=0.01)
    spec = {"mode": "sense", "mu": 0.01, "iters": 5, "noise_cond": True}
    inp, scale = network_input(op, y, spec)
    assert inp.shape == (2, 3, H, H) and torch.allclose(inp[:, 2], inp[:, 2, :1, :1].expand(-1, H, H))
    with torch.no_grad():
        assert torch.allclose(warm(inp), base(inp[:, :2]), atol=1e-5)
    # more noise -> a larger conditioning value; a set noise level is used as given
    _, _, y2 = _problem(noise=0.1)
    assert (network_input(op, y2, spec)[0][:, 2, 0, 0] > inp[:, 2, 0, 0]).all()
    op.with_noise(torch.full((2,), 1e-12))
    assert torch.allclose(network_input(op, y, spec)[0][:, 2, 0, 0], torch.full((2,), -1.0))  # the floor
    # the solver feeds the conditioned network through the same function
    warm.meta = {"input": spec}
    r = unet_solver.solve(op, y, warm, options=UNetOptions(final_dc="none"))
    assert r.image.shape == (2, H, H) and torch.isfinite(torch.view_as_real(r.image)).all()


def test_cv_with_a_2d_poisson_mask_multicoil():
    m, _ = mask_2d(PoissonMaskFunc([0.1], [3]), (H, H), seed=0)
    m = m.expand(H, H) if m.dim() < 2 else m
    op, x = MultiCoilMRI(m, _maps()), _phantom()
    y = op.forward(x)
    _, scale = prepare_input(op, y, None)
    r = unet_solver.solve(op, y, _Fixed(0.8 * x, scale))
    assert torch.isfinite(torch.view_as_real(r.image)).all() and len(r.info["dc_mu"]) == 2
    assert float((r.image - x).norm()) < float((0.8 * x - x).norm())  # clean data: consistency helps


def test_sense_input_weight_follows_noise_beyond_the_training_range():
    """With ``sigma_ref`` in the input spec, the CG-SENSE input's Tikhonov weight is the trained one for
    data inside the training noise range (bit-identical input) and grows with σ_n² beyond it."""
    from mrirecon.models.unet import sense_input_mu

    spec = {"mode": "sense", "mu": 0.01, "iters": 5}
    ref = {**spec, "sigma_ref": 0.02}
    assert sense_input_mu(spec, torch.tensor([0.1])) == 0.01
    assert torch.allclose(sense_input_mu(ref, torch.tensor([0.01, 0.02, 0.06])), torch.tensor([0.01, 0.01, 0.09]))
    op, x, y = _problem(noise=1e-3)
    op.with_noise(op.estimate_noise(y))
    a, sa = prepare_input(op, y, spec)
    b, sb = prepare_input(op, y, ref)
    assert torch.equal(a, b) and torch.equal(sa, sb)  # low noise: as trained
    op2, x, y2 = _problem(noise=0.2)
    op2.with_noise(op2.estimate_noise(y2))
    a, sa = prepare_input(op2, y2, spec)
    b, sb = prepare_input(op2, y2, ref)
    sig = op2.noise_sigma / sa
    assert (sig > 0.02).all()
    mu = 0.01 * (sig / 0.02) ** 2
    want = op2.cg_solve(y2, torch.zeros_like(op2.adjoint(y2)), mu, 5)
    assert torch.allclose(b * sb[:, None, None], want, atol=1e-5)
    # the stronger weight keeps less noise: the input is closer to the truth's shape
    err = lambda z, s: float((z * s[:, None, None] - x).norm() / x.norm())  # noqa: E731
    assert err(b, sb) < err(a, sa)
    # the solver follows the spec by default; input_mu="trained" restores the trained weight
    net = _Fixed(x, sa)
    net.meta = {"input": ref}
    assert unet_solver.input_spec(net, UNetOptions()) == ref
    assert unet_solver.input_spec(net, UNetOptions(input_mu="trained")) == spec
    assert torch.equal(unet_solver.network_estimate(op2, y2, net, UNetOptions(input_mu="trained"))[1], sa)
    assert torch.equal(unet_solver.network_estimate(op2, y2, net)[1], sb)
    r = unet_solver.solve(op2, y2, net, options=UNetOptions(dc_mu="auto"))
    assert torch.allclose(torch.tensor(r.info["input_mu"]), mu.float(), rtol=1e-5)  # recorded per slice
    r = unet_solver.solve(op2, y2, net, options=UNetOptions(dc_mu="auto", input_mu="trained"))
    assert r.info["input_mu"] == [0.01, 0.01]


def test_sense_input_weight_follows_noise_both_ways_with_mu_min():
    """With ``mu_min`` as well, the weight is mu (σ_n / sigma_ref)² both ways, clamped to [mu_min, ∞): clean
    data get a less regularised CG-SENSE input, which keeps more of the image."""
    from mrirecon.models.unet import sense_input_mu

    spec = {"mode": "sense", "mu": 0.01, "iters": 30, "sigma_ref": 0.02}
    both = {**spec, "mu_min": 1e-4}
    got = sense_input_mu(both, torch.tensor([0.001, 0.01, 0.02, 0.06]))
    assert torch.allclose(got, torch.tensor([1e-4, 0.0025, 0.01, 0.09]))
    assert torch.allclose(sense_input_mu(spec, torch.tensor([0.001, 0.06])), torch.tensor([0.01, 0.09]))
    op, x, y = _problem(noise=1e-4)
    op.with_noise(op.estimate_noise(y))
    info_a, info_b = {}, {}
    a, sa = prepare_input(op, y, spec, info_a)
    b, sb = prepare_input(op, y, both, info_b)
    assert info_a["input_mu"] == [0.01, 0.01] and all(m < 0.01 for m in info_b["input_mu"])
    err = lambda z, s: float((z * s[:, None, None] - x).norm() / x.norm())  # noqa: E731
    assert err(b, sb) < err(a, sa)
    from mrirecon.train import UNetTrainConfig

    with pytest.raises(ValueError, match="sense_mu_min"):
        UNetTrainConfig(sense_mu_min=1e-4)  # needs sense_sigma_ref
    with pytest.raises(ValueError, match="sense_mu_min"):
        UNetTrainConfig(sense_sigma_ref=0.02, sense_mu_min=0.1)  # above sense_mu
    cfg = UNetTrainConfig(sense_sigma_ref=0.02, sense_mu_min=1e-4, sense_iters=30)
    from mrirecon.train.objectives import UNetObjective

    assert UNetObjective(cfg).input_spec() == {"mode": "sense", "mu": 0.01, "iters": 30, "sigma_ref": 0.02,
                                               "mu_min": 1e-4}


def test_training_records_the_input_noise_reference():
    """``sigma_ref`` comes from the training distribution itself: the 95th percentile of its
    multi-coil inputs' σ_n, seeded, and larger for a noisier distribution."""
    from mrirecon.data.masks import RandomMaskFunc as RMF
    from mrirecon.train.datasets import UNetSliceDataset

    imgs = torch.stack([_phantom(1, s)[0].abs() for s in range(4)]).numpy()
    spec = {"mode": "sense", "mu": 0.01, "iters": 5}
    ds = UNetSliceDataset(imgs, RMF([0.15], [4]), input_spec=spec, multicoil_prob=1.0, snr_db=(30.0, 30.0))
    r1 = ds.input_noise_reference(n=12)
    assert r1 == ds.input_noise_reference(n=12) and 0 < r1 < 0.2
    noisy = UNetSliceDataset(imgs, RMF([0.15], [4]), input_spec=spec, multicoil_prob=1.0, snr_db=(15.0, 15.0))
    assert noisy.input_noise_reference(n=12) > 2 * r1
    assert UNetSliceDataset(imgs, RMF([0.15], [4]), input_spec=None).input_noise_reference(n=4) is None


def test_basic_recipe_ranges_and_training_with_the_noise_following_input():
    """The basic recipe's SNR / coil / radius ranges are options (defaults: 25–40 dB, 4–12 coils,
    radius 1.0–1.4); ``sense_sigma_ref`` puts the noise-following weight into the training input."""
    from mrirecon.data.masks import RandomMaskFunc as RMF
    from mrirecon.train.datasets import UNetSliceDataset
    from mrirecon.train.objectives import UNetObjective, UNetTrainConfig

    imgs = torch.stack([_phantom(1, s)[0].abs() for s in range(3)]).numpy()
    ds = UNetSliceDataset(imgs, RMF([0.15], [4]), multicoil_prob=1.0, coils=(2, 3), radius=(0.7, 0.8))
    ops = [ds.measurement(i % 3, (0, i))[0] for i in range(8)]
    assert {op.num_coils for op in ops} <= {2, 3} and len({op.num_coils for op in ops}) == 2
    assert ds.radius == (0.7, 0.8) and UNetSliceDataset(imgs, RMF([0.15], [4])).coils == (4, 12)
    spec = UNetObjective(UNetTrainConfig(sense_sigma_ref=0.03)).input_spec()
    assert spec["sigma_ref"] == 0.03 and spec["mu"] == 0.01
    assert "sigma_ref" not in UNetObjective(UNetTrainConfig()).input_spec()
    for bad in (dict(snr_range=(40.0, 25.0)), dict(coil_range=(1, 4)), dict(radius_range=(0.1, 1.0)),
                dict(sense_sigma_ref=-1.0), dict(snr_range=(20.0,))):
        with pytest.raises(ValueError):
            UNetTrainConfig(**bad)


def test_basic_recipe_mask_families_and_estimated_maps():
    """``mask_types`` draws a mask family per item (the family from the seed, the mask from a seed derived
    from it, so the acceleration is not tied to the family); ``estimated_maps_prob`` feeds that share of the
    multi-coil inputs through coil maps estimated from the undersampled k-space. The defaults keep the
    earlier runs' items exactly."""
    from mrirecon.data.masks import MixedMaskFunc, RandomMaskFunc as RMF
    from mrirecon.train.datasets import UNetSliceDataset
    from mrirecon.train.objectives import UNetTrainConfig, train_mask_func

    mf = train_mask_func(UNetTrainConfig(mask_types=("random", "equispaced")))
    assert isinstance(mf, MixedMaskFunc)
    assert isinstance(train_mask_func(UNetTrainConfig()), RMF)
    shape = (32, 256, 2)
    kinds, combos = [], set()
    for s in range(40):
        m = mf(shape, seed=(0, s))[0].reshape(-1).numpy()
        assert np.array_equal(m, mf(shape, seed=(0, s))[0].reshape(-1).numpy())  # reproducible
        lines = np.flatnonzero(m)
        equi = len(set(np.diff(lines[lines < 100]))) == 1  # evenly spaced away from the centre
        accel = 4 if m.sum() > 256 / 6 else 8
        kinds.append(equi)
        combos.add((equi, accel))
    assert 8 < sum(kinds) < 32  # both families drawn
    assert len(combos) == 4  # every family with every acceleration
    with pytest.raises(ValueError):
        MixedMaskFunc([])
    for bad in (dict(mask_types=("spiral",)), dict(mask_types=()), dict(estimated_maps_prob=1.5)):
        with pytest.raises(ValueError):
            UNetTrainConfig(**bad)

    imgs = torch.stack([_phantom(1, s)[0].abs() for s in range(3)]).numpy()
    spec = {"mode": "sense", "mu": 0.01, "iters": 5}
    kw = dict(input_spec=spec, multicoil_prob=1.0, coils=(6, 6), radius=(0.8, 0.8), snr_db=(40.0, 40.0))
    true = UNetSliceDataset(imgs, RMF([0.16], [4]), **kw)
    est = UNetSliceDataset(imgs, RMF([0.16], [4]), estimated_maps_prob=1.0, **kw)
    old = UNetSliceDataset(imgs, RMF([0.16], [4]), estimated_maps_prob=0.0, **kw)
    op_t, y_t, x_t = true.measurement(0, (0, 1))
    op_e, y_e, x_e = est.measurement(0, (0, 1))
    assert torch.equal(y_t, y_e)  # the same item, other maps
    obj = x_t.abs() > 0.1 * x_t.abs().max()
    assert ((x_e.abs() - x_t.abs())[obj].norm() / x_t.abs()[obj].norm()) < 0.05  # the RSS magnitude
    inp = est.item(0, (0, 1))[0]
    inp = torch.complex(inp[0], inp[1])

    def agree(t):  # real part of the complex cosine: what an L1 loss on (real, imaginary) channels sees
        return float((inp.conj() * t)[obj].sum().real / (inp[obj].norm() * t[obj].norm()))

    assert agree(x_e) > 0.9 and agree(x_e) > agree(x_t) + 0.3  # the target has the estimated maps' phase
    assert not torch.allclose(op_t.maps, op_e.maps)
    assert torch.allclose(op_e.maps.abs().pow(2).sum(1)[:, 16, 16], torch.ones(1), atol=0.05)  # ESPIRiT-normalised
    inp_o, _ = old.item(0, (0, 1))
    assert torch.equal(inp_o, true.item(0, (0, 1))[0])
    fixed = dict(kw, fixed_masks=True)  # validation items keep the true maps
    held = UNetSliceDataset(imgs, RMF([0.16], [4]), estimated_maps_prob=1.0, **fixed)
    assert torch.equal(held.measurement(0, (0,))[0].maps, UNetSliceDataset(imgs, RMF([0.16], [4]), **fixed)
                       .measurement(0, (0,))[0].maps)


def test_unet_card_states_the_basic_recipe_ranges_of_the_run():
    from mrirecon.train.export import unet_basic_data

    old = unet_basic_data({})  # runs recorded before the ranges were options: the old defaults
    assert "4–12-coil" in old and "25–40 dB" in old and "radius 1–1.4" in old
    wide = unet_basic_data({"snr_range": [15.0, 55.0], "coil_range": [2, 16], "radius_range": [0.7, 1.6],
                            "multicoil_prob": 0.5})
    assert "2–16-coil" in wide and "15–55 dB" in wide and "radius 0.7–1.6" in wide and "50% single-coil" in wide
    assert "fastMRI random," in wide and "estimated" not in wide
    mixed = unet_basic_data({"mask_types": ["random", "equispaced"], "estimated_maps_prob": 0.5})
    assert "fastMRI random / equispaced," in mixed and "50% of the multi-coil inputs use coil maps estimated" in mixed


class _HalfWay(torch.nn.Module):
    """A stand-in network that moves its (peak-normalised) input half way to the truth."""

    def __init__(self, truth):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.t = complex_to_channels(truth / truth.abs().flatten(1).amax(1)[:, None, None])
        self.meta = {}

    def forward(self, z):
        return 0.5 * z + 0.5 * self.t + 0 * self.w


def _single_or_multi(coils: int, noise: float):
    """A noise-free single-coil problem with a known noise level, or ``_problem(noise)`` with 4 coils."""
    if coils > 1:
        return _problem(noise=noise)
    m, _ = mask_2d(RandomMaskFunc([0.15], [2]), (H, H), seed=2)
    op, x = SingleCoilMRI(m), _phantom()
    y = op.forward(x)
    op.with_noise(1e-3)
    return op, x, y


@pytest.mark.parametrize("coils", [1, 4])
def test_further_passes_feed_the_consistent_estimate_back(coils):
    """passes=2: the network runs again on the first pass's consistency-corrected estimate (peak-normalised),
    and the validated weight of the first pass makes the second consistent too; single-coil data use the
    noise-rule weight between passes. A network that halves the error gains from the second pass."""
    from mrirecon.recon.unet import _dc, network_refine

    op, x, y = _single_or_multi(coils, 0.01)
    net = _HalfWay(x)
    net.meta = {"eps0_mean": 0.01}
    one = unet_solver.solve(op, y, net, options=UNetOptions(passes=1))
    two = unet_solver.solve(op, y, net, options=UNetOptions(passes=2))
    assert two.nfe == one.nfe + 1 and two.info["passes"] == [2, 2]
    err = lambda z: float((z - x).norm() / x.norm())  # noqa: E731
    assert err(two.image) < err(one.image) * (0.8 if coils == 1 else 0.97)
    if coils > 1:  # the wiring: the second pass on the first's consistent estimate, the same weight
        mu = torch.tensor([float("inf") if v is None else v for v in one.info["dc_mu"]])
        assert two.info["dc_mu"] == one.info["dc_mu"]
        want = _dc(op, y, network_refine(op, y, net, one.image), mu, UNetOptions().dc_iters)
        assert torch.allclose(two.image, want, atol=1e-6)
    with pytest.raises(ValueError, match="passes"):
        UNetOptions(passes=0)


@pytest.mark.parametrize("coils", [1, 4])
def test_hold_out_chooses_the_second_pass_only_where_it_predicts_better(coils):
    """passes=cv (the default): per slice, the second pass is kept when it predicts held-out k-space lines
    better (one-standard-error rule); the network evaluations of the choice are counted."""
    op, x, y = _single_or_multi(coils, 0.1)  # multi-coil: noisy enough that the network's estimate matters
    good, bad = _HalfWay(x), _HalfWay(x.roll(4, -1))  # half way to the truth / to a shifted image
    good.meta = bad.meta = {"eps0_mean": 0.01}
    assert UNetOptions().passes == "cv"
    r = unet_solver.solve(op, y, good)
    assert r.info["passes"] == [2, 2]
    two = unet_solver.solve(op, y, good, options=UNetOptions(passes=2))
    assert torch.allclose(r.image, two.image, atol=1e-6)
    folds = UNetOptions().cv_folds
    assert r.nfe == 2 + (folds if coils > 1 else 0) + 2 * folds
    r = unet_solver.solve(op, y, bad)
    assert r.info["passes"] == [1, 1]
    one = unet_solver.solve(op, y, bad, options=UNetOptions(passes=1))
    assert torch.allclose(r.image, one.image, atol=1e-6)


def test_passes_cv_on_fully_sampled_data_keeps_one_pass_and_counts_no_hold_out():
    """Nothing to hold out: one pass, and no hold-out evaluations counted (the weight's nor the passes')."""
    x = _phantom()
    for op in (SingleCoilMRI(torch.ones(H)), MultiCoilMRI(torch.ones(H), _maps())):
        y = op.forward(x)
        op.with_noise(1e-3)
        net = _HalfWay(x)
        net.meta = {"eps0_mean": 0.01}
        r = unet_solver.solve(op, y, net)
        assert r.info["passes"] == [1, 1] and r.info["passes_cv_evaluations"] == 0 and r.nfe == 1
        assert "cv_folds" not in r.info


class _LeftBiased(torch.nn.Module):
    """A network that is not flip-equivariant: it shifts its input one pixel down and right."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.meta = {"eps0_mean": 0.01}

    def forward(self, z):
        return torch.roll(z, (1, 1), (-2, -1)) + 0 * self.w


@pytest.mark.parametrize("coils", [1, 4])
def test_flip_ensemble_averages_the_network_on_flipped_inputs(coils):
    """flips=2 / 4: every network evaluation is the mean of the network on the input flipped up-down (and
    left-right, both), each flipped back; evaluations are counted per flip; 1 is the network as it is."""
    from mrirecon.recon.unet import network_estimate

    op, x, y = _single_or_multi(coils, 0.01)
    net = _LeftBiased()
    u1, s1 = network_estimate(op, y, net, UNetOptions(flips=1))
    u2, s2 = network_estimate(op, y, net, UNetOptions(flips=2))
    u4, _ = network_estimate(op, y, net, UNetOptions(flips=4))
    base = u1 / s1.reshape(-1, 1, 1)
    up = torch.roll(base, (-1, -1), (-2, -1))  # the input the network saw (its output undone)
    want2 = (torch.roll(up, (1, 1), (-2, -1)) + torch.roll(up, (-1, 1), (-2, -1))) / 2
    want4 = (torch.roll(up, (1, 1), (-2, -1)) + torch.roll(up, (-1, 1), (-2, -1)) + torch.roll(up, (1, -1), (-2, -1))
             + torch.roll(up, (-1, -1), (-2, -1))) / 4
    assert torch.allclose(u2 / s2.reshape(-1, 1, 1), want2, atol=1e-6)
    assert torch.allclose(u4 / s1.reshape(-1, 1, 1), want4, atol=1e-6)
    one = unet_solver.solve(op, y, net, options=UNetOptions(passes=1))
    four = unet_solver.solve(op, y, net, options=UNetOptions(passes=1, flips=4))
    assert four.nfe == 4 * one.nfe and torch.isfinite(four.image).all()
    for bad in (0, 3, 8):
        with pytest.raises(ValueError, match="flips"):
            UNetOptions(flips=bad)
