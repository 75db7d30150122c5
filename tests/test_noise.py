"""Noise level from the data, and the weights derived from it (issue 15)."""
import json
import warnings

import h5py
import numpy as np
import pytest
import torch

from mrirecon.data.masks import RandomMaskFunc, mask_2d
from mrirecon.data.synth import SimConfig, simulate_kspace, write_simulated
from mrirecon.physics import MultiCoilMRI, SingleCoilMRI
from mrirecon.physics.noise import estimate_sigma, sigma_from_noise_scan

from conftest import phantom


@pytest.mark.parametrize("coils", [1, 8, 15])
@pytest.mark.parametrize("snr", [15, 20, 30, 40, 50])
@pytest.mark.parametrize("oversampling", [1, 2])
def test_sigma_recovered_within_15_percent(coils, snr, oversampling):
    imgs = np.stack([phantom(96, s) for s in range(2)])
    k, _ = simulate_kspace(imgs, SimConfig(coils=coils, snr_db=snr, readout_oversampling=oversampling, seed=snr))
    obj = imgs[imgs > 0.1 * imgs.max()]
    sigma = float(obj.mean()) / 10 ** (snr / 20)  # the simulator's definition: E|n|^2 = sigma^2 per sample
    m, _ = mask_2d(RandomMaskFunc([0.08], [4]), k.shape, seed=0)
    for i in range(len(k)):
        est = estimate_sigma(k[i] * m, m[0])
        assert est.shape == (max(coils, 1),)
        assert float(est.pow(2).mean().sqrt()) == pytest.approx(sigma, rel=0.15)


def test_noise_scan_and_operator_estimate():
    g = torch.Generator().manual_seed(0)
    n = 0.3 / 2 ** 0.5 * torch.complex(torch.randn(4, 5000, generator=g), torch.randn(4, 5000, generator=g))
    assert torch.allclose(sigma_from_noise_scan(n), torch.full((4,), 0.3), rtol=0.05)
    imgs = np.stack([phantom(64, s) for s in range(2)])
    k, _ = simulate_kspace(imgs, SimConfig(coils=1, snr_db=25))
    m, _ = mask_2d(RandomMaskFunc([0.08], [4]), k.shape, seed=0)
    op = SingleCoilMRI(m)
    s = op.estimate_noise(k * m)
    assert s.shape == (2,) and (s > 0).all()
    assert torch.equal(op.select([1]).with_noise(s[1:]).noise_sigma, s[1:])
    op.with_noise(s)
    assert torch.equal(op.select([1]).noise_sigma, s[1:])  # selection keeps each item's sigma


def test_cs_auto_lambda_follows_the_noise():
    from mrirecon.recon import cs
    from mrirecon.recon.weights import KAPPA_CS

    imgs = np.stack([phantom(64, 1)])
    lams = []
    for snr in (20, 40):
        k, _ = simulate_kspace(imgs, SimConfig(coils=1, snr_db=snr, seed=3))
        m, _ = mask_2d(RandomMaskFunc([0.08], [4]), k.shape, seed=0)
        r = cs.solve(SingleCoilMRI(m), k * m, options=cs.CSOptions(lamda="auto", max_iter=5))
        lams.append(r.info["lamda"][0])
    assert lams[0] / lams[1] == pytest.approx(10.0, rel=0.25)  # 20 dB more SNR: a tenth of the weight
    assert KAPPA_CS > 0


def test_sigma_weighted_prox_and_krylov_consistency():
    from mrirecon.diffusion.prior import DiffusionPrior
    from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
    from mrirecon.models.prior import PriorUNet
    from mrirecon.recon import ccdf, diffusion

    torch.manual_seed(0)
    prior = DiffusionPrior(PriorUNet(channels=(8, 16), norm_groups=4).eval(), VPSchedule(ScheduleConfig(num_timesteps=40)))
    imgs = np.stack([phantom(32, s) for s in range(2)])
    k, _ = simulate_kspace(imgs, SimConfig(coils=1, snr_db=30))
    m, _ = mask_2d(RandomMaskFunc([0.16], [3]), k.shape, seed=0)
    op, y = SingleCoilMRI(m), k * m
    r = ccdf.solve(op, y, prior, init="zero-filled", options=ccdf.CCDFOptions(t0=0.5, steps=4, dc_weight="auto"))
    assert torch.isfinite(r.image).all() and len(r.info["noise_sigma_normalised"]) == 2
    for mode, w in (("krylov", 0.0), ("krylov", 0.1), ("prox", "auto")):
        x = diffusion.solve(op, y, prior, options=diffusion.DiffusionOptions(steps=4, dc_mode=mode, dc_weight=w,
                                                                              dc_iters=3)).image
        assert torch.isfinite(x).all()
    # the sigma_t weight: strong consistency at large t (small mu), weak near t = 0
    from mrirecon.recon.weights import prox_mu_at

    sig = torch.tensor([0.02])
    assert float(prox_mu_at(sig, prior.schedule, 30)) < float(prox_mu_at(sig, prior.schedule, 1))


def test_dps_stops_on_divergence_with_a_warning():
    from mrirecon.diffusion.prior import DiffusionPrior
    from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
    from mrirecon.models.prior import PriorUNet
    from mrirecon.recon import dps

    torch.manual_seed(0)
    prior = DiffusionPrior(PriorUNet(channels=(8, 16), norm_groups=4).eval(), VPSchedule(ScheduleConfig(num_timesteps=40)))
    imgs = np.stack([phantom(32, 0)])
    k, _ = simulate_kspace(imgs, SimConfig(coils=1, snr_db=30))
    m, _ = mask_2d(RandomMaskFunc([0.16], [3]), k.shape, seed=0)
    with pytest.warns(UserWarning, match="DPS diverged"):
        r = dps.solve(SingleCoilMRI(m), k * m, prior, options=dps.DPSOptions(steps=20, zeta=1e4))
    assert "diverged_at_step" in r.info and torch.isfinite(r.image).all()


def test_sigma_recorded_in_outputs_and_run_config(tmp_path):
    from mrirecon.cli.main import main

    d = tmp_path / "in"
    p = write_simulated(d / "a.h5", np.stack([phantom(64, s) for s in range(2)]), SimConfig(coils=4, snr_db=25))
    assert main(["reconstruct", str(d), str(tmp_path / "o"), "--method", "cs", "--lamda", "auto", "--max-iter", "5"]) == 0
    with h5py.File(tmp_path / "o" / "a.h5") as hf:
        sig = hf.attrs["noise_sigma"]
        assert sig.shape == (2,) and hf.attrs["noise_source"] == "estimated from k-space"
    run = json.loads((tmp_path / "o" / "run_config.json").read_text())[-1]
    assert run["noise_sigma"]["a.h5"] == pytest.approx(float(np.mean(sig)))
    # a noise scan in the file is used instead of the estimate
    with h5py.File(p, "a") as hf:
        hf.create_dataset("noise", data=(0.01 * (np.ones((4, 100)) + 1j * np.zeros((4, 100)))).astype(np.complex64))
    assert main(["reconstruct", str(d), str(tmp_path / "o2"), "--method", "zero-filled"]) == 0
    with h5py.File(tmp_path / "o2" / "a.h5") as hf:
        assert hf.attrs["noise_source"] == "noise scan"


def test_red_diff_auto_data_weight_scales_with_inverse_noise_power():
    from mrirecon.recon.weights import SIGMA_REF_RED_DIFF, red_diff_obs_weight

    s = torch.tensor([SIGMA_REF_RED_DIFF, SIGMA_REF_RED_DIFF / 10])
    w = red_diff_obs_weight(s)
    assert float(w[0]) == pytest.approx(1.0) and float(w[1]) == pytest.approx(100.0)
    from mrirecon.diffusion.prior import DiffusionPrior
    from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
    from mrirecon.models.prior import PriorUNet
    from mrirecon.recon import red_diff

    torch.manual_seed(0)
    prior = DiffusionPrior(PriorUNet(channels=(8, 16), norm_groups=4).eval(), VPSchedule(ScheduleConfig(num_timesteps=40)))
    imgs = np.stack([phantom(32, s) for s in range(2)])
    k, _ = simulate_kspace(imgs, SimConfig(coils=1, snr_db=30))
    m, _ = mask_2d(RandomMaskFunc([0.16], [3]), k.shape, seed=0)
    r = red_diff.solve(SingleCoilMRI(m), k * m, prior, init="zero-filled",
                       options=red_diff.REDDiffOptions(steps=3, obs_weight="auto"))
    assert torch.isfinite(r.image).all()
