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


def test_sr3_pairs_follow_the_degradation():
    """SR3's training condition is the chosen operator's own upsampling of its LR image (box, k-space,
    Gaussian; both axes or one, as through-plane SR applies it)."""
    from mrirecon.physics.sr import Degrade
    from mrirecon.train.objectives import SR3Objective

    hr = torch.from_numpy(np.stack([phantom(32, s) for s in range(2)])).float()
    for kind in ("box", "kspace", "gaussian"):
        for factors in ((2, 2), (4, 1), (1, 4)):
            up, h = SR3Objective._pair(hr, factors, kind)
            op = Degrade(factors, kind)
            peak = hr.flatten(1).amax(1)[:, None, None]
            assert torch.allclose(up[:, 0], op.upsample(op.forward(hr)) / peak, atol=1e-6)
            assert torch.allclose(h[:, 0], hr / peak)


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
    from mrirecon.models.unet import UNet

    srnet_dir = save_model(UNet(1, 1, chans=4, num_pool_layers=2), tmp_path / "srnet", meta={"task": "sr"})
    for method, extra in [("bicubic", []), ("unet", ["--weights", str(srnet_dir)]),
                          ("ccdf", ["--weights", str(prior_dir), "--unet-weights", str(srnet_dir), "--steps", "2",
                                    "-o", "init=unet"]),
                          ("ccdf", ["--weights", str(prior_dir), "--steps", "3"]),
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


@pytest.mark.parametrize("kind", ["box", "kspace", "gaussian"])
@pytest.mark.parametrize("factors", [(2, 2), (3, 1), (1, 5), (4, 4)])
def test_degradations_adjoint_consistency_and_mean(kind, factors):
    from mrirecon.physics.sr import Degrade

    op = Degrade(factors, kind)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, 60, 40), generator=g, dtype=torch.complex64)
    y = torch.randn((2, 60 // factors[0], 40 // factors[1]), generator=g, dtype=torch.complex64)
    lhs, rhs = (op.forward(x).conj() * y).sum(), (x.conj() * op.adjoint(y)).sum()
    assert abs(lhs - rhs) / abs(lhs) < 1e-5
    xc = op.consistency(x, y)
    assert (op.forward(xc) - y).abs().max() < 1e-4  # exactly consistent
    assert (op.consistency(xc, y) - xc).abs().max() < 1e-4  # a projection
    # non-expansive: the map's linear part has norm <= 1
    d = op.consistency(x, y) - op.consistency(x * 0.5, y)
    assert d.norm() <= (x * 0.5).norm() * (1 + 1e-5)
    const = torch.full((1, 60, 40), 3.0)
    assert torch.allclose(op.forward(const), torch.full_like(op.forward(const), 3.0), atol=1e-4)  # keeps the mean
    assert torch.allclose(op.upsample(op.forward(const)), const, atol=1e-4)


def test_degrade_rejects_bad_input():
    from mrirecon.physics.sr import Degrade

    with pytest.raises(ValueError, match="unknown degradation"):
        Degrade(2, "sinc")
    with pytest.raises(ValueError, match="positive integers"):
        Degrade((2, 0))
    with pytest.raises(ValueError, match="not divisible"):
        Degrade(3).forward(torch.zeros(1, 10, 9))


def _world_centres_tile(aff_in, aff_out, factors, offsets, idx):
    """The centre of input voxel idx is the mean of the centres of the output voxels that tile it."""
    subs = [[]]
    for ax, f in enumerate(factors):
        subs = [s + [idx[ax] * f + d] for s in subs for d in range(f)]
    c_out = np.mean([aff_out @ [*s, 1] for s in subs], 0)
    np.testing.assert_allclose(c_out, aff_in @ [*idx, 1], atol=1e-6)


@pytest.mark.parametrize("degradation", ["box", "gaussian"])
def test_through_plane_sr_geometry_4d_and_int_input(tmp_path, degradation):
    """A 4-D int16 LAS volume with 1 x 1 x 4 mm voxels, --axis auto: the slice axis is upsampled x4,
    per volume; orientation kept; world coordinates of the input voxel centres kept; float32 out."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    data = (rng.random((12, 8, 5, 2)) * 1000).astype(np.int16)
    aff = np.array([[-1.0, 0, 0, 40.0], [0, 1.0, 0, -30.0], [0, 0, 4.0, 12.0], [0, 0, 0, 1]])
    src = tmp_path / "thick.nii.gz"
    nib.save(nib.Nifti1Image(data, aff), src)
    before = src.read_bytes()
    out = tmp_path / "iso.nii.gz"
    assert main(["--quiet", "sr", str(src), "--axis", "auto", "--degradation", degradation, "--method", "bicubic",
                 "--out", str(out)]) == 0
    img = nib.load(out)
    assert src.read_bytes() == before
    assert img.shape == (12, 8, 20, 2) and img.get_data_dtype() == np.float32
    assert nib.aff2axcodes(img.affine) == ("L", "A", "S")
    np.testing.assert_allclose(img.header.get_zooms()[:3], (1.0, 1.0, 1.0))
    for idx in [(0, 0, 0), (11, 7, 4), (3, 2, 1)]:
        _world_centres_tile(aff, img.affine, (1, 1, 4), None, idx)
    # bicubic through-plane: both plane sets give cubic interpolation along the slice axis, so the
    # fused volume is exactly that (the axis bookkeeping is right), clamped at 0
    from mrirecon.physics.sr import Degrade

    sr = np.asarray(img.get_fdata(dtype=np.float32))
    for v in range(2):
        lr = torch.from_numpy(data[..., v].astype(np.float32))  # (X, Y, Z): planes over X, upsample Z
        expect = Degrade((1, 4), degradation).upsample(lr).clamp_min(0).numpy()
        np.testing.assert_allclose(sr[..., v], expect, rtol=1e-5, atol=1e-3)


def test_axis_resolution_rules():
    from mrirecon.pipeline.sr import resolve_axis

    assert resolve_axis("auto", (1.0, 1.0, 5.0), None) == ((1, 1, 5), "through-plane x5 along voxel axis 2")
    assert resolve_axis("auto", (1.0, 1.0, 1.2), 2)[0] == (2, 2, 1)
    assert resolve_axis("slice", (3.0, 1.0, 1.0), None)[0] == (3, 1, 1)
    assert resolve_axis("1", (1.0, 1.0, 1.0), 2)[0] == (1, 2, 1)
    with pytest.raises(ValueError, match="--scale"):
        resolve_axis("inplane", (1.0, 1.0, 1.0), None)
    with pytest.raises(ValueError, match="factor"):
        resolve_axis("slice", (1.0, 1.0, 9.0), None)


@pytest.mark.parametrize("degradation", ["box", "kspace", "gaussian"])
def test_prior_sr_is_consistent_in_plane_and_through_plane(tmp_path, degradation):
    """CCDF with the chosen degradation: the output reproduces the low-resolution input under that
    operator, in-plane and through-plane (the fused average of two consistent estimates)."""
    from mrirecon.models.prior import PriorUNet
    from mrirecon.physics.sr import Degrade
    from mrirecon.pipeline.sr import super_resolve_volume

    torch.manual_seed(0)
    prior_dir = save_model(PriorUNet(channels=(8, 16), norm_groups=4), tmp_path / "prior",
                           meta={"schedule": {"num_timesteps": 20}})
    lr = np.stack([phantom(16, s) for s in range(4)], -1).astype(np.float32) + 0.05  # (16, 16, 4)
    thru = super_resolve_volume(lr, (1, 1, 2), "ccdf", {"steps": 2}, weights=prior_dir, degradation=degradation)
    assert thru.shape == (16, 16, 8) and np.isfinite(thru).all()
    back = Degrade((1, 2), degradation).forward(torch.from_numpy(thru)).numpy()
    np.testing.assert_allclose(back, lr, atol=1e-4)
    inpl = super_resolve_volume(lr, (2, 2, 1), "ccdf", {"steps": 2}, weights=prior_dir, degradation=degradation)
    back = Degrade((2, 2), degradation).forward(torch.from_numpy(np.moveaxis(inpl, 2, 0).copy())).numpy()
    np.testing.assert_allclose(back, np.moveaxis(lr, 2, 0), atol=1e-4)


def test_sr_refuses_bad_input_naming_the_file(tmp_path, capsys):
    """Unreadable, empty, non-finite or all-zero inputs are refused with the file named and exit
    code 2; nothing is written and the input is left as it was."""
    import nibabel as nib

    good = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    cases = {}
    nan = good.copy()
    nan[2, 3, 1] = np.nan
    nib.save(nib.Nifti1Image(nan, np.eye(4)), tmp_path / "nan.nii.gz")
    cases["nan.nii.gz"] = "1 of 768 voxels are NaN or infinite"
    nib.save(nib.Nifti1Image(np.zeros((16, 16, 3), np.int16), np.eye(4)), tmp_path / "zeros.nii.gz")
    cases["zeros.nii.gz"] = "every voxel is 0"
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    cases["empty.nii.gz"] = "not a readable NIfTI image"
    (tmp_path / "trunc.nii.gz").write_bytes((tmp_path / "nan.nii.gz").read_bytes()[:200])
    cases["trunc.nii.gz"] = "not a readable NIfTI image"
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    cases["bad.npy"] = "not a readable .npy array"
    np.save(tmp_path / "inf.npy", np.full((8, 8), np.inf, np.float32))
    cases["inf.npy"] = "64 of 64 voxels are NaN or infinite"
    for name, msg in cases.items():
        before = (tmp_path / name).read_bytes()
        out = tmp_path / f"out_{name}"
        assert main(["--quiet", "sr", str(tmp_path / name), "--scale", "2", "--method", "bicubic",
                     "--out", str(out)]) == 2, name
        err = capsys.readouterr().err
        assert f"{tmp_path / name}: " in err and msg in err, (name, err)
        assert not out.exists() and (tmp_path / name).read_bytes() == before


def test_sr_of_a_2d_nifti_stays_2d(tmp_path):
    import nibabel as nib

    img = np.random.default_rng(2).random((12, 10)).astype(np.float32) + 0.1
    aff = np.array([[-0.8, 0, 0, 10.0], [0, 0.8, 0, -5.0], [0, 0, 3.0, 1.0], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(img, aff), tmp_path / "slice.nii")
    out = tmp_path / "slice_sr.nii"
    assert main(["--quiet", "sr", str(tmp_path / "slice.nii"), "--scale", "2", "--method", "bicubic",
                 "--out", str(out)]) == 0
    res = nib.load(out)
    assert res.shape == (24, 20)
    np.testing.assert_allclose(res.header.get_zooms(), (0.4, 0.4))
    np.testing.assert_allclose(np.mean([res.affine @ [a, b, 0, 1] for a in (0, 1) for b in (0, 1)], 0),
                               aff @ [0, 0, 0, 1], atol=1e-6)  # the first input voxel's centre kept
    assert main(["--quiet", "sr", str(tmp_path / "slice.nii"), "--axis", "slice", "--scale", "2",
                 "--out", str(tmp_path / "x.nii")]) == 2
    vol, vox, _ = load_nifti(tmp_path / "slice.nii")
    assert vol.shape == (1, 10, 12)
    np.testing.assert_allclose(vox, (0.8, 0.8, 1.0), rtol=1e-6)
