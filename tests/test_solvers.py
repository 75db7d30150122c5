"""Every solver end to end on small images with tiny random networks."""
import pytest
import torch

from mrirecon.data.masks import RandomMaskFunc, mask_2d
from mrirecon.diffusion.prior import DiffusionPrior
from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
from mrirecon.models.prior import PriorUNet
from mrirecon.models.unet import UNet
from mrirecon.physics import Downsample, MultiCoilMRI, SingleCoilMRI, fft2c, normalise_maps
from mrirecon.recon import ccdf, diffusion, dps, red_diff, unet as unet_solver
from mrirecon.diffusion.schedule import item_generators
from mrirecon.recon.result import Result

H = 32


@pytest.fixture(scope="module")
def prior():
    torch.manual_seed(0)
    net = PriorUNet(channels=(8, 16), norm_groups=4).eval()
    return DiffusionPrior(net, VPSchedule(ScheduleConfig(num_timesteps=40)))


@pytest.fixture(scope="module")
def tiny_unet():
    torch.manual_seed(1)
    return UNet(chans=4, num_pool_layers=2).eval()


def image(b=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, H), torch.linspace(-1, 1, H), indexing="ij")
    base = ((xx ** 2 + yy ** 2) < 0.6).float()
    return torch.stack([base * (0.5 + 0.5 * torch.rand(1, generator=g)) * torch.exp(1j * 0.3 * xx * (i + 1))
                        for i in range(b)]).to(torch.complex64)


def problems():
    m, _ = mask_2d(RandomMaskFunc([0.25], [3]), (H, H), seed=0)
    g = torch.Generator().manual_seed(3)
    maps = normalise_maps(torch.complex(torch.randn(3, 4, H, H, generator=g), torch.randn(3, 4, H, H, generator=g)) + 3)
    x = image()
    ops = {"single": SingleCoilMRI(m), "multi": MultiCoilMRI(m, maps), "sr": Downsample(2)}
    return {k: (op, op.forward(x)) for k, op in ops.items()}


PROBLEMS = problems()


def gens(seed, y):
    return item_generators(seed, y.shape[0])


def run(name, op, y, prior, unet, seed=0, **kw):
    g = gens(seed, y)
    if name == "unet":
        r = unet_solver.solve(op, y, unet)
    elif name == "diffusion":
        r = diffusion.solve(op, y, prior, options=diffusion.DiffusionOptions(steps=6, **kw), generator=g)
    elif name == "ccdf":
        opts = ccdf.CCDFOptions(t0=0.3, init="zero-filled", dc_mode="replace", dc_weight=1.0, **kw)
        r = ccdf.solve(op, y, prior, options=opts, generator=g)
    elif name == "red-diff":
        r = red_diff.solve(op, y, prior, options=red_diff.REDDiffOptions(steps=8, init="zero-filled", **kw), generator=g)
    elif name == "dps":
        r = dps.solve(op, y, prior, options=dps.DPSOptions(steps=5, **kw), generator=g)
    else:
        raise KeyError(name)
    assert isinstance(r, Result)
    return r.image


SOLVERS = ["unet", "diffusion", "ccdf", "red-diff", "dps"]


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("name", SOLVERS)
def test_shapes_determinism_batching(name, problem, prior, tiny_unet):
    op, y = PROBLEMS[problem]
    if name == "unet" and problem == "sr":
        pytest.skip("the U-Net initializer is trained for MRI")
    x = run(name, op, y, prior, tiny_unet, seed=5)
    assert x.shape == (3, H, H) and x.dtype == torch.complex64 and torch.isfinite(torch.view_as_real(x)).all()
    x2 = run(name, op, y, prior, tiny_unet, seed=5)
    assert torch.equal(x, x2)  # same seed -> identical output
    # a batch item's result does not depend on the batch it was solved in
    x_single = run(name, op.select([0]), y[:1], prior, tiny_unet, seed=5)
    assert torch.allclose(x_single, x[:1], atol=1e-4, rtol=1e-4)
    if name != "unet":
        x3 = run(name, op, y, prior, tiny_unet, seed=6)
        assert not torch.equal(x, x3)


@pytest.mark.parametrize("problem", ["single", "sr"])
@pytest.mark.parametrize("name", ["diffusion", "ccdf"])
def test_consistency_on_sampled_lines(name, problem, prior, tiny_unet):
    op, y = PROBLEMS[problem]
    x = run(name, op, y, prior, tiny_unet)
    assert torch.allclose(op.forward(x), y, atol=1e-4)  # the replacement map is exact there


def test_ccdf_t0_one_zero_init_is_full_diffusion(prior):
    op, y = PROBLEMS["single"]
    same = dict(steps=7, eta=1.0, dc_mode="replace", dc_weight=1.0, sigma_scale=1.0, diffpir_zeta=1.0,
                spacing="linear", dc_lambda=1.0, renoise="antithetic")
    a = ccdf.solve(op, y, prior, init="zeros", options=ccdf.CCDFOptions(t0=1.0, **same), generator=gens(3, y))
    b = diffusion.solve(op, y, prior, options=diffusion.DiffusionOptions(**same), generator=gens(3, y))
    assert torch.equal(a.image, b.image) and a.nfe == b.nfe == 7


def test_ccdf_nfe_and_auto_t0(prior):
    s = prior.schedule
    assert ccdf.nfe(s, 0.5, None) == 20 and ccdf.nfe(s, 0.5, 4) == 4
    big = VPSchedule()
    t_small, t_large = ccdf.auto_t0(big, 1e-3), ccdf.auto_t0(big, 1e-1)
    assert 0 < t_small < t_large <= 1  # a better initializer needs a smaller t0
    calls = []
    op, y = PROBLEMS["single"]
    ccdf.solve(op, y, prior, init="zero-filled", options=ccdf.CCDFOptions(t0=0.5, steps=4),
               callback=lambda *a: calls.append(a[1]))
    assert len(calls) == 4 and calls == sorted(calls, reverse=True)
    assert ccdf.initializer_error({"eps0": {"R4": 0.01, "R8": 0.03}, "eps0_mean": 0.02}, op) == 0.01  # mask is R≈3
    assert ccdf.initializer_error({"eps0": {"R4": 0.01, "R8": 0.03}, "eps0_mean": 0.02}, Downsample(2)) == 0.02
    with pytest.raises(ValueError, match="eps0"):
        ccdf.solve(op, y, prior, init="zero-filled", options=ccdf.CCDFOptions(t0="auto"))


def test_samples_mean_std(prior):
    op, y = PROBLEMS["multi"]
    r = ccdf.solve(op, y, prior, init="zero-filled", options=ccdf.CCDFOptions(t0=0.3, steps=3, n_samples=3),
                   generator=gens(1, y))
    assert isinstance(r, Result) and r.nfe == 9  # 3 samples of 3 steps
    assert r.samples.shape == (3, 3, H, H) and r.image.shape == (3, H, H) and r.std.shape == (3, H, H)
    assert (r.std >= 0).all() and r.std.max() > 0
    assert torch.allclose(r.image, r.samples.mean(0))
    # sample k of item i does not depend on the batch: item 1 alone gives the same samples
    r1 = ccdf.solve(op.select([1]), y[1:2], prior, init="zero-filled",
                    options=ccdf.CCDFOptions(t0=0.3, steps=3, n_samples=3), generator=gens(2, y[:1]))
    assert torch.allclose(r1.samples[:, 0], r.samples[:, 1], atol=1e-4)  # same noise; CG stops per batch


def test_red_diff_no_network_gradient(prior):
    op, y = PROBLEMS["single"]
    for p in prior.net.parameters():
        p.grad = None
    seen = []
    h = prior.net.register_forward_hook(lambda m, i, o: seen.append(torch.is_grad_enabled()))
    try:
        red_diff.solve(op, y, prior, init="zero-filled", options=red_diff.REDDiffOptions(steps=4))
    finally:
        h.remove()
    assert seen and not any(seen)  # every forward ran under no_grad
    assert all(p.grad is None for p in prior.net.parameters())


def test_red_diff_lambda_zero_is_least_squares(prior):
    op, y = PROBLEMS["single"]
    x = red_diff.solve(op, y, prior, init="zero-filled", options=red_diff.REDDiffOptions(lamda=0.0, steps=300, lr=0.05)).image
    # least squares on a masked FFT: consistent with the data on the sampled lines
    assert (op.forward(x) - y).norm() / y.norm() < 0.05
    for w in ("sqrt", "square", "const"):
        red_diff.solve(op, y, prior, init="zeros", options=red_diff.REDDiffOptions(steps=2, weighting=w))
    with pytest.raises(ValueError, match="weighting"):
        red_diff.REDDiffOptions(steps=2, weighting="bad")
    with pytest.raises(ValueError, match="needs the U-Net"):
        red_diff.solve(op, y, prior, options=red_diff.REDDiffOptions(steps=2))  # default init='unet', none given


def test_dps_uses_network_gradient(prior):
    op, y = PROBLEMS["single"]
    seen = []
    h = prior.net.register_forward_hook(lambda m, i, o: seen.append(torch.is_grad_enabled()))
    try:
        dps.solve(op, y, prior, options=dps.DPSOptions(steps=3))
    finally:
        h.remove()
    assert all(seen)
    with pytest.raises(ValueError, match="needs its network"):
        unet_solver.solve(op, y)


def test_dc_placements_differ_and_run(prior):
    op, y = PROBLEMS["single"]
    a = diffusion.solve(op, y, prior, options=diffusion.DiffusionOptions(steps=5, dc="x0")).image
    b = diffusion.solve(op, y, prior, options=diffusion.DiffusionOptions(steps=5, dc="xt")).image
    assert not torch.allclose(a, b)
    assert torch.allclose(op.forward(b), y, atol=1e-4)


def test_cg_solve_solves_regularised_normal_equations():
    op, y = PROBLEMS["multi"]
    xr = image() * 0.5
    x = op.cg_solve(y, xr, mu=0.1, iters=200, tol=1e-10)
    resid = op.adjoint(op.forward(x)) + 0.1 * x - op.adjoint(y) - 0.1 * xr
    assert resid.norm() / op.adjoint(y).norm() < 1e-3


def test_unet_input_modes(tiny_unet):
    from mrirecon.models.unet import prepare_input
    from mrirecon.recon.unet import UNetOptions

    def network_input(op, y, spec):
        x, scale = prepare_input(op, y, spec)
        return x * scale[:, None, None]

    op, y = PROBLEMS["multi"]
    a = network_input(op, y, None)
    b = network_input(op, y, {"mode": "sense", "mu": 0.01, "iters": 10})
    assert torch.allclose(a, op.adjoint(y), atol=1e-6) and not torch.allclose(a, b)
    # CG-SENSE fits the data better than the adjoint
    assert (op.forward(b) - y).norm() < (op.forward(a) - y).norm()
    sop, sy = PROBLEMS["single"]
    assert torch.allclose(network_input(sop, sy, {"mode": "sense"}), sop.adjoint(sy), atol=1e-6)  # single-coil
    tiny_unet.meta = {"input": {"mode": "sense", "mu": 0.01, "iters": 5}}
    try:
        x = unet_solver.solve(op, y, tiny_unet, options=UNetOptions(final_dc="cg")).image
        assert x.shape == (3, H, H)
    finally:
        tiny_unet.meta = {}


def test_solver_contract_is_uniform():
    """Every registered solver has the same signature, no catch-all **kwargs."""
    import inspect

    from mrirecon.recon import registry

    want = ["physics", "y", "prior", "init", "options", "generator", "callback"]
    for task in registry.TASKS:
        for name, m in registry.methods(task).items():
            sig = inspect.signature(m.solve)
            assert list(sig.parameters) == want, (task, name)
            kinds = {p.kind for p in sig.parameters.values()}
            assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds
            assert all(sig.parameters[k].kind == inspect.Parameter.KEYWORD_ONLY for k in want[3:])
            m.options()  # the defaults construct and validate


def test_options_validate_and_name_fields():
    from mrirecon.recon import cs, registry

    with pytest.raises(ValueError, match="t0"):
        ccdf.CCDFOptions(t0=1.5)
    with pytest.raises(ValueError, match="choose one of"):
        ccdf.CCDFOptions(t0="soon")
    with pytest.raises(ValueError, match="steps"):
        ccdf.CCDFOptions(steps=0)
    with pytest.raises(ValueError, match="lamda"):
        cs.CSOptions(lamda=-1)
    assert ccdf.CCDFOptions(t0="0.2").t0 == 0.2 and ccdf.CCDFOptions(t0="auto").t0 == "auto"
    m = registry.get("ccdf")
    with pytest.raises(ValueError, match="its options are: .*t0"):
        m.make_options({"lamda": 0.1})
    assert m.make_options({"steps": "none"}).steps is None
    with pytest.raises(ValueError, match="unknown mri method"):
        registry.get("nope")


def test_prior_denoise_and_t_for_sigma(prior):
    s = prior.schedule
    for t in (0, 5, 20, 39):
        assert s.t_for_sigma(float(s.sigma_over_alpha(t))) == t
    x = image()
    d = prior.denoise(x, 0.1)
    assert d.shape == x.shape and d.dtype == torch.complex64


def test_prior_denoise_is_differentiable(prior):
    """Guidance samplers (DPS, deepinv's through the adapter) differentiate through x̂0."""
    x = image().requires_grad_(False)
    z = x.clone().requires_grad_(True)
    prior.denoise(z, 0.1).abs().pow(2).sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()


def test_deepinv_adapter_is_import_guarded():
    """Without deepinv the adapter says what to install and where the separate environment is."""
    import importlib.util

    if importlib.util.find_spec("deepinv") is not None:  # pragma: no cover - only in the peers venv
        pytest.skip("deepinv is installed here")
    with pytest.raises(ImportError, match="setup_deepinv.sh"):
        import mrirecon.interop.deepinv  # noqa: F401


def test_diffpir_update_matches_ddim_and_renoises():
    """ζ = 0 with the network's own x̂0 is deterministic DDIM (ε̃ = ε̂); ζ = 1 draws all noise afresh."""
    s = VPSchedule(ScheduleConfig(num_timesteps=50))
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn((2, 8, 8), generator=g, dtype=torch.complex64)
    eps = torch.randn((2, 8, 8), generator=g, dtype=torch.complex64)
    t, tp = 30, 20
    xt = float(s.alpha_bar(t)) ** 0.5 * x0 + (1 - float(s.alpha_bar(t))) ** 0.5 * eps
    assert torch.allclose(s.step_zeta(xt, x0, t, tp, 0.0), s.step(x0, eps, t, tp, eta=0.0), atol=1e-5)
    a = s.step_zeta(xt, x0, t, tp, 1.0, torch.Generator().manual_seed(1))
    resid = (a - float(s.alpha_bar(tp)) ** 0.5 * x0) / (1 - float(s.alpha_bar(tp))) ** 0.5
    assert abs(float((resid.conj() * eps).real.mean())) < 0.3  # independent of the old noise
    assert torch.equal(s.step_zeta(xt, x0, t, -1, 1.0), x0)


def test_sampler_diffpir_zeta_option(prior):
    op, y = PROBLEMS["single"]
    o = diffusion.DiffusionOptions(steps=4, dc_mode="prox", dc_weight=0.05, diffpir_zeta=1.0)
    a = diffusion.solve(op, y, prior, options=o, generator=item_generators(0, y.shape[0]))
    b = diffusion.solve(op, y, prior, options=o, generator=item_generators(0, y.shape[0]))
    c = diffusion.solve(op, y, prior, options=diffusion.DiffusionOptions(steps=4, dc_mode="prox", dc_weight=0.05,
                                                                        diffpir_zeta=None),
                        generator=item_generators(0, y.shape[0]))
    assert torch.equal(a.image, b.image) and torch.isfinite(a.image).all() and not torch.equal(a.image, c.image)


def test_quadratic_timestep_grid_is_diffpirs():
    """spacing="quadratic" is DiffPIR's grid (deepinv: T − 1 − ⌊√linspace(0, T², n)⌋, last step t = 0):
    descending, unique, twice as dense as linear near t = 0; sigma_scale then maps it like any grid."""
    from mrirecon.diffusion.schedule import VPSchedule

    s = VPSchedule()
    T, n = s.T, 100
    ts = s.timesteps(T - 1, n, spacing="quadratic")
    seq = torch.sqrt(torch.linspace(0, T ** 2, n)).int()
    seq[-1] -= 1
    ref = [T - 1 - int(v) for v in seq]
    assert len(ts) == n and ts[0] == T - 1 and ts[-1] == 0 and all(a > b for a, b in zip(ts, ts[1:]))
    assert max(abs(a - b) for a, b in zip(ts, ref)) <= 1  # rounding vs deepinv's truncation
    lin = s.timesteps(T - 1, n)
    assert ts[-2] - ts[-1] < lin[-2] - lin[-1] and ts[0] - ts[1] > lin[0] - lin[1]
    assert len(s.scale_sigmas(ts, 0.5)) == n
    with pytest.raises(ValueError, match="spacing"):
        s.timesteps(T - 1, n, spacing="cosine")
    from mrirecon.recon import registry

    assert registry.get("diffusion").make_options({"spacing": "quadratic"}).spacing == "quadratic"


def test_step_noise_antithetic_pairs_and_fresh_stream():
    """renoise="antithetic" draws z, then −z at the next step, then a new pair; "fresh" is the generator's stream."""
    from mrirecon.diffusion.schedule import StepNoise, randn_like

    like = torch.zeros((2, 8, 8), dtype=torch.complex64)
    a = StepNoise(torch.Generator().manual_seed(3), "antithetic")
    z = [a(like) for _ in range(5)]
    assert torch.equal(z[1], -z[0]) and torch.equal(z[3], -z[2]) and not torch.equal(z[2], z[0])
    assert not torch.equal(z[4], -z[3]) and float(z[0].abs().pow(2).mean()) == pytest.approx(2.0, rel=0.5)
    f = StepNoise(torch.Generator().manual_seed(3), "fresh")
    g = torch.Generator().manual_seed(3)
    assert all(torch.equal(f(like), randn_like(like, g)) for _ in range(3))
    gens = item_generators(0, 2)
    p = StepNoise(gens, "antithetic")
    assert torch.equal(p(like), -p(like))  # one generator per item works as in randn_like
    with pytest.raises(ValueError, match="re-noising"):
        StepNoise(None, "sobol")


def test_sampler_renoise_option(prior):
    """Fresh re-noising is the previous sampler to the bit (its default); antithetic is deterministic given the seed,
    differs, and reaches the same data consistency."""
    op, y = PROBLEMS["single"]
    gen = lambda: item_generators(0, y.shape[0])  # noqa: E731
    base = dict(t0=0.6, steps=6, init="zero-filled")
    a = ccdf.solve(op, y, prior, options=ccdf.CCDFOptions(**base, renoise="fresh"), generator=gen())
    b = ccdf.solve(op, y, prior, options=ccdf.CCDFOptions(**base, renoise="antithetic"), generator=gen())
    c = ccdf.solve(op, y, prior, options=ccdf.CCDFOptions(**base, renoise="antithetic"), generator=gen())
    assert torch.equal(b.image, c.image) and torch.isfinite(b.image).all() and not torch.equal(a.image, b.image)
    mask = op.mask.bool().expand_as(y)
    for r in (a, b):
        resid = (op.forward(r.image) - y)[mask].abs().max()
        assert float(resid) < 0.5 * float(y[mask].abs().max())
    with pytest.raises(ValueError):
        ccdf.CCDFOptions(renoise="sobol")


class _GaussianPrior:
    """The exact Tweedie denoiser of images x ~ N(0, s² I): a linear network, so the sampler's output is linear in the
    noise it adds and the spread over seeds can be compared directly."""

    def __init__(self, s=0.5, T=200):
        self.s, self.schedule = s, VPSchedule(ScheduleConfig(num_timesteps=T))

    def eps(self, x, t):
        ab = float(self.schedule.alpha_bar(t))
        x0 = ab ** 0.5 * self.s ** 2 * x / (ab * self.s ** 2 + 1 - ab)
        return (x - ab ** 0.5 * x0) / (1 - ab) ** 0.5


def test_antithetic_renoising_lowers_the_spread_of_the_result():
    """With DiffPIR's update (ζ = 1) each step's fresh noise adds to the result's variance; antithetic pairs cancel
    most of it (exactly to first order for a linear denoiser), at the same number of network evaluations."""
    from mrirecon.diffusion.sampler import reverse_diffusion

    pr = _GaussianPrior()
    ts = pr.schedule.timesteps(60, 12)
    x_start = torch.full((1, 16, 16), 0.3, dtype=torch.complex64)

    def spread(renoise):
        outs = []
        for seed in range(24):
            x = pr.schedule.q_sample(x_start, ts[0], torch.zeros_like(x_start))  # the same start: only steps' noise
            outs.append(reverse_diffusion(pr, x, ts, generator=torch.Generator().manual_seed(seed), zeta=1.0,
                                          renoise=renoise))
        return float(torch.stack(outs).var(0).mean())

    fresh, anti = spread("fresh"), spread("antithetic")
    assert fresh > 0 and anti < 0.5 * fresh
