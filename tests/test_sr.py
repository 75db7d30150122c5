"""Super-resolution: SR3 conditional network, Downsample consistency, CCDF-SR / RED-diff-SR with the
MRI solver code, the `mrirecon sr` CLI on a tiny NIfTI."""
import numpy as np
import pytest
import torch

from mrirecon.cli.main import main
from mrirecon.diffusion.prior import DiffusionPrior
from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule, item_generators
from mrirecon.io import load_nifti, save_nifti
from mrirecon.models.io import load_model, save_model
from mrirecon.models.sr3 import SR3Net
from mrirecon.physics import Downsample
from mrirecon.recon import sr3

from conftest import phantom


@pytest.fixture(scope="module")
def sr3_prior():
    torch.manual_seed(0)
    return DiffusionPrior(SR3Net(channels=(8, 16), norm_groups=4).eval(), VPSchedule(ScheduleConfig(num_timesteps=30)))


def test_sr3_network_conditioning(sr3_prior):
    net = sr3_prior.net
    x, c = torch.randn(2, 1, 30, 34), torch.rand(2, 1, 30, 34)
    out = net(x, c, torch.tensor([0.9, 0.1]))
    assert out.shape == (2, 1, 30, 34)
    assert not torch.allclose(net(x, c, torch.tensor([0.9, 0.9])), out)  # noise level matters
    assert not torch.allclose(net(x, c * 0, torch.tensor([0.9, 0.1])), out)  # condition matters


def test_sr3_training_step_and_noise_levels(tmp_path):
    from mrirecon.train.objectives import sample_sqrt_gamma

    s = VPSchedule()
    sg = sample_sqrt_gamma(s, 1000, torch.Generator().manual_seed(0))
    assert sg.min() > 0 and sg.max() <= 1 and sg.std() > 0.2


@pytest.mark.parametrize("t0", [1.0, 0.3])
@pytest.mark.parametrize("dc", ["none", "x0"])
def test_sr3_sampling(sr3_prior, t0, dc):
    hr = torch.from_numpy(np.stack([phantom(32, s) for s in range(2)]))
    op = Downsample(4)
    y = op.forward(hr)
    x = sr3.solve(op, y, sr3_prior, options=sr3.SR3Options(t0=t0, steps=4, dc=dc), generator=item_generators(1, 2)).image
    assert x.shape == (2, 32, 32) and not x.is_complex() and torch.isfinite(x).all()
    assert torch.allclose(op.forward(x), y, atol=1e-5)  # final Downsample consistency (default on)
    x2 = sr3.solve(op, y, sr3_prior, options=sr3.SR3Options(t0=t0, steps=4, dc=dc), generator=item_generators(1, 2)).image
    assert torch.equal(x, x2)
    # item 1 alone (seed + 1) gets the same noise as in the batch
    x1 = sr3.solve(op, y[1:], sr3_prior, options=sr3.SR3Options(t0=t0, steps=4, dc=dc), generator=item_generators(2, 1)).image
    assert torch.allclose(x1[0], x[1], atol=1e-5)
    raw = sr3.solve(op, y, sr3_prior, options=sr3.SR3Options(t0=t0, steps=4, dc="none", final_dc=False)).image
    assert not torch.allclose(op.forward(raw), y, atol=1e-3)  # plain SR3 is not consistent by construction


def test_sr3_samples_and_condition_used(sr3_prior):
    hr = torch.from_numpy(np.stack([phantom(32, s) for s in range(2)]))
    op = Downsample(2)
    y = op.forward(hr)
    s = sr3.solve(op, y, sr3_prior, options=sr3.SR3Options(t0=0.5, steps=3, n_samples=3))
    assert s.samples.shape == (3, 2, 32, 32) and s.image.shape == (2, 32, 32) and s.std.shape == (2, 32, 32)
    assert torch.allclose(s.image, s.samples.mean(0)) and (s.std > 0).any()
    # the condition reaches the network: another LR image changes the first step's ε
    cp = sr3_prior.conditioned(torch.rand(2, 32, 32))
    cp2 = sr3_prior.conditioned(torch.rand(2, 32, 32))
    xt, t = torch.randn(2, 32, 32, dtype=torch.complex64), 10
    assert not torch.allclose(cp.eps(xt, t), cp2.eps(xt, t))
    assert torch.allclose(cp.eps(xt, t).imag, xt.imag / (1 - float(sr3_prior.schedule.alpha_bar(10))) ** 0.5)
    with pytest.raises(ValueError, match="condition"):
        sr3_prior.eps(xt, t)


def test_downsample_init_is_consistent_bicubic():
    hr = torch.from_numpy(phantom(32))[None]
    op = Downsample(2)
    y = op.forward(hr)
    x = op.init(y)
    assert torch.allclose(op.forward(x), y, atol=1e-6)


def test_sr_cli_on_tiny_nifti(tmp_path):
    from mrirecon.models.prior import PriorUNet

    hr = np.stack([phantom(32, s) for s in range(3)])
    lr = Downsample(2).forward(torch.from_numpy(hr)).numpy()
    src = save_nifti(tmp_path / "lr.nii.gz", lr, (2.0, 2.0, 5.0))
    before = src.read_bytes()
    torch.manual_seed(0)
    prior_dir = save_model(PriorUNet(channels=(8, 16), norm_groups=4), tmp_path / "prior",
                           meta={"schedule": {"num_timesteps": 20}})
    sr3_dir = save_model(SR3Net(channels=(8, 16), norm_groups=4), tmp_path / "sr3", meta={"schedule": {"num_timesteps": 20}})
    for method, extra in [("bicubic", []), ("ccdf", ["--weights", str(prior_dir), "--steps", "3"]),
                          ("red-diff", ["--weights", str(prior_dir), "--steps", "3", "--t-max", "0.5"]),
                          ("sr3", ["--weights", str(sr3_dir), "--steps", "3"]),
                          ("sr3", ["--weights", str(sr3_dir), "--steps", "2", "--t0", "0.5", "-o", "n_samples=2",
                                   "-o", "dc=x0"])]:
        out = tmp_path / f"sr_{method}_{len(extra)}.nii.gz"
        assert main(["sr", str(src), "--scale", "2", "--method", method, "--out", str(out), *extra]) == 0
        vol, vox, _ = load_nifti(out)
        assert vol.shape == (3, 32, 32) and vox == pytest.approx((1.0, 1.0, 5.0))
        assert np.isfinite(vol).all()
    assert src.read_bytes() == before
    np.save(tmp_path / "img.npy", lr[0])
    assert main(["sr", str(tmp_path / "img.npy"), "--scale", "4", "--out", str(tmp_path / "o.npy")]) == 0
    assert np.load(tmp_path / "o.npy").shape == (64, 64)
    assert main(["sr", str(tmp_path / "img.npy"), "--scale", "2", "--out", str(tmp_path / "o.png")]) == 0
    assert main(["sr", str(tmp_path / "missing.nii"), "--scale", "2", "--out", str(tmp_path / "x.nii")]) == 2


def test_red_diff_sr_defaults_options_and_consistency(tmp_path):
    """RED-diff-SR is the MRI solver with Downsample: its default output is consistent with the LR
    input; options reach the solver; an unknown option is a clear error."""
    from mrirecon.pipeline.sr import super_resolve
    from mrirecon.models.prior import PriorUNet

    torch.manual_seed(0)
    prior_dir = save_model(PriorUNet(channels=(8, 16), norm_groups=4), tmp_path / "prior",
                           meta={"schedule": {"num_timesteps": 20}})
    hr = np.stack([phantom(32, s) for s in range(2)]).astype(np.float32)
    op = Downsample(4)
    lr = op.forward(torch.from_numpy(hr)).numpy()
    a = super_resolve(lr, 4, "red-diff", {"steps": 4, "t_max": 0.5}, weights=prior_dir)
    np.testing.assert_allclose(op.forward(torch.from_numpy(a)).numpy(), lr, atol=1e-5)
    b = super_resolve(lr, 4, "red-diff", {"steps": 4, "t_max": 0.5, "lamda": 0.0, "lr": 0.0}, weights=prior_dir)
    bic = op.init(torch.from_numpy(lr)).numpy()
    np.testing.assert_allclose(b, bic, atol=1e-5)  # lr 0: the consistent bicubic start, untouched
    with pytest.raises(ValueError, match="no option 'bogus'"):
        super_resolve(lr, 4, "red-diff", {"bogus": 1}, weights=prior_dir)
    # an option the method does not use is an error on the command line too
    assert main(["sr", "x.npy", "--scale", "2", "--out", "y.npy", "--method", "bicubic", "--steps", "3"]) == 2


def test_sr_keeps_the_input_affine(tmp_path):
    """A LAS, off-origin volume: the output keeps the orientation and the world coordinates of the
    voxel centres (output voxel centres tile the input voxels)."""
    import nibabel as nib

    vol = np.random.default_rng(0).random((8, 6, 3)).astype(np.float32) + 0.1  # (x, y, z) as nibabel stores it
    aff = np.array([[-2.0, 0, 0, 40.0], [0, 2.0, 0, -30.0], [0, 0, 5.0, 12.0], [0, 0, 0, 1]])  # LAS
    nib.save(nib.Nifti1Image(vol, aff), tmp_path / "in.nii.gz")
    out = tmp_path / "out.nii.gz"
    assert main(["sr", str(tmp_path / "in.nii.gz"), "--scale", "2", "--out", str(out)]) == 0
    img = nib.load(out)
    assert img.shape == (16, 12, 3) and nib.aff2axcodes(img.affine) == nib.aff2axcodes(aff) == ("L", "A", "S")
    np.testing.assert_allclose(np.abs(np.diag(img.affine))[:3], [1.0, 1.0, 5.0])
    # the centre of input voxel (i, j, k) is the mean of its 2x2 output voxels' centres
    for i, j, k in [(0, 0, 0), (7, 5, 2), (3, 2, 1)]:
        c_in = aff @ [i, j, k, 1]
        sub = [img.affine @ [2 * i + a, 2 * j + b, k, 1] for a in (0, 1) for b in (0, 1)]
        np.testing.assert_allclose(np.mean(sub, 0), c_in, atol=1e-6)
