"""Data pipeline: split by volume, simulation, datasets, specs — with tiny inputs."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from mrirecon.data import prepare as P
from mrirecon.data import sources as S


def _fake_sources(monkeypatch, names=("a", "b", "colin27")):
    srcs = tuple(S.Source(n, "pypi", "pkg", "1", "m", "", "d", "l", optional=(n == "colin27")) for n in names)
    rng = np.random.default_rng(0)

    def fake_load(src, cache):
        vol = np.zeros((20, 24, 22), np.float32)
        vol[4:16, 5:19, 4:18] = 100 + rng.random((12, 14, 14)) * 50 + (hash(src.name) % 7)
        return vol, (1.0, 1.0, 1.0), {"name": src.name, "sha256": "x", "licence": src.licence}

    monkeypatch.setattr(P, "SOURCES", srcs)
    monkeypatch.setattr(P, "load_volume", fake_load)


def test_prepare_split_by_volume(tmp_path, monkeypatch):
    _fake_sources(monkeypatch)
    s = P.prepare(P.PrepareConfig(out=tmp_path, cache=tmp_path / "c", size=16))
    assert s["val_sources"] == ["colin27"] and s["train_sources"] == ["a", "b"]
    with np.load(tmp_path / "train_16.npz") as tr, np.load(tmp_path / "val_16.npz") as va:
        assert set(tr["volume"]) == {"a", "b"} and set(va["volume"]) == {"colin27"}  # no leakage
        assert tr["images"].shape[1:] == (16, 16) and tr["images"].dtype == np.float16
        assert set(tr["orientation"]) == {"sagittal", "coronal", "axial"}
        assert 0 <= tr["images"].min() and tr["images"].max() <= 1
        # near-empty slices dropped: fewer than all 20 + 24 + 22 slices per volume
        assert len(va["images"]) < 66
    prov = json.loads((tmp_path / "provenance_16.json").read_text())
    assert [p["name"] for p in prov["sources"]] == ["a", "b", "colin27"]
    assert P.load_split(tmp_path, "val", 16).dtype == np.float32
    with pytest.raises(FileNotFoundError, match="mrirecon data prepare"):
        P.load_split(tmp_path, "val", 32)


def test_prepare_fallback_validation_without_optional(tmp_path, monkeypatch):
    _fake_sources(monkeypatch, names=("a", "pydeface_mean"))
    s = P.prepare(P.PrepareConfig(out=tmp_path, cache=tmp_path / "c", size=16))
    assert s["val_sources"] == ["pydeface_mean"] and s["train_sources"] == ["a"]


def test_source_sha256_checked(tmp_path, monkeypatch):
    src = dataclasses.replace(S.SOURCES[0], name="custom", sha256="0" * 64)
    monkeypatch.setattr(S, "_download", lambda s, c: tmp_path / "x.whl")
    monkeypatch.setattr(S, "_read_member", lambda a, s: b"payload")
    with pytest.raises(S.SourceError, match="sha256"):
        S.load_volume(src, tmp_path)


def test_square_resize():
    img = np.ones((10, 20), np.float32)
    out = P.square_resize(img, 8)
    assert out.shape == (8, 8) and out[0].max() < 0.5 < out[4].max()


def test_simulation_noise_and_targets(phantoms):
    from mrirecon.data.synth import SimConfig, simulate_kspace
    from mrirecon.physics import ifft2c, rss

    k, tgt = simulate_kspace(phantoms[:2], SimConfig(coils=8, snr_db=20, readout_oversampling=2))
    assert k.shape == (2, 8, 128, 64) and k.dtype == torch.complex64 and tgt.shape == (2, 64, 64)
    # the target is the RSS of the fully sampled coil images, centre-cropped
    full = rss(ifft2c(k), 1)
    assert torch.allclose(full[:, 32:96], tgt, atol=1e-5)
    # noise level: background (outside the object, which sits in the cropped FOV) ~ sigma
    bg = ifft2c(k)[:, :, :16].abs()
    k_clean, _ = simulate_kspace(phantoms[:2], SimConfig(coils=8, snr_db=200, readout_oversampling=2))
    assert bg.mean() > 10 * ifft2c(k_clean)[:, :, :16].abs().mean()
    k1, t1 = simulate_kspace(phantoms[:2], SimConfig(coils=1, snr_db=40))
    assert k1.shape == (2, 64, 64)
    assert torch.allclose(ifft2c(k1).abs(), t1, atol=1e-5)
    # smooth phase: neighbouring pixels have nearly the same phase inside the object
    img = ifft2c(k1)[0]
    obj = torch.from_numpy(phantoms[0]) > 0.2
    dphi = torch.angle(img[:, 1:] * img[:, :-1].conj())[obj[:, 1:] & obj[:, :-1]]
    assert dphi.abs().median() < 0.2


def test_simulation_noiseless_target(phantoms, tmp_path):
    """``simulate`` returns fastMRI's target (RSS of the noisy k-space) and the same image without the noise;
    the noisy one's draws are unchanged by it, and ``write_simulated`` stores the noiseless one."""
    import h5py

    from mrirecon.data.synth import SimConfig, simulate, simulate_kspace, write_simulated
    from mrirecon.io import FastMRIFile
    from mrirecon.io.fastmri import NOISELESS_KEY

    for coils in (8, 1):
        cfg = SimConfig(coils=coils, snr_db=20, readout_oversampling=2 if coils > 1 else 1, seed=5)
        k, tgt, clean = simulate(phantoms[:2], cfg)
        k0, t0 = simulate_kspace(phantoms[:2], cfg)
        assert torch.equal(k, k0) and torch.equal(tgt, t0)
        _, clean_hi = simulate_kspace(phantoms[:2], dataclasses.replace(cfg, snr_db=300))
        assert clean.shape == tgt.shape and torch.allclose(clean, clean_hi, atol=1e-5)
        # the noise in fastMRI's target: clearly there at 20 dB, absent in the noiseless one
        err = lambda t: float(((t - clean_hi) ** 2).mean())  # noqa: E731
        assert err(tgt) > 1e4 * max(err(clean), 1e-12)
    path = write_simulated(tmp_path / "s.h5", phantoms[:2], SimConfig(coils=4, snr_db=25, seed=1))
    f = FastMRIFile(path)
    with h5py.File(path) as hf:
        assert NOISELESS_KEY in hf and hf[NOISELESS_KEY].shape == hf["reconstruction_rss"].shape
    _, t, c = simulate(phantoms[:2], SimConfig(coils=4, snr_db=25, seed=1))
    assert np.array_equal(f.volume_target(), t.numpy()) and np.array_equal(f.volume_target("noiseless"), c.numpy())
    with pytest.raises(ValueError, match="reference"):
        f.volume_target("clean")


def test_unet_dataset_seeding(phantoms):
    from mrirecon.train.datasets import UNetSliceDataset
    from mrirecon.data.masks import RandomMaskFunc

    mf = RandomMaskFunc([0.08, 0.04], [4, 8])
    ds = UNetSliceDataset(phantoms, mf, seed=3)
    a, b = ds[1], ds[1]
    assert torch.equal(a[0], b[0]) and a[0].shape == (2, 64, 64) and a[1].shape == (2, 64, 64)
    ds.epoch = 1
    assert not torch.equal(ds[1][0], a[0])  # new epoch, new mask / augmentation
    val = UNetSliceDataset(phantoms, mf, fixed_masks=True, augment=False)
    v0 = val[0][0]
    val.epoch = 5
    assert torch.equal(val[0][0], v0)  # validation masks fixed across epochs
    # workers: the same items come out of a 2-worker loader as in-process
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    got = torch.cat([x for x, _ in loader])
    ref = torch.stack([ds[i][0] for i in range(len(ds))])
    assert torch.equal(got, ref)
    zf, tgt = ds[0]
    assert torch.complex(zf[0], zf[1]).abs().max() == pytest.approx(1.0, abs=1e-5)


def test_prior_and_sr_batches(phantoms):
    from mrirecon.train.datasets import PriorBatches, SRPairs

    pb = PriorBatches(phantoms, batch_size=4, crop=32, seed=0)
    x = pb.sample()
    assert x.shape == (4, 2, 32, 32)
    pb.reseed(0)
    assert torch.equal(pb.sample(), x)
    mag = torch.complex(x[:, 0], x[:, 1]).abs()
    assert mag.max() <= 1.1 + 1e-5 and (x[:, 1].abs().sum() > 0)
    up, hr = SRPairs(phantoms, scale=4, batch_size=2, crop=32).sample()
    assert up.shape == hr.shape == (2, 1, 32, 32)


def test_specs_listed():
    from mrirecon.data.specs import load_spec, spec_names

    assert {"fastmri_knee_singlecoil", "fastmri_brain_multicoil", "mrirecon_sim_multicoil",
            "mrirecon_sim_singlecoil"} <= set(spec_names())
    assert load_spec("fastmri_brain_multicoil")["kspace"]["rank"] == 4
    with pytest.raises(FileNotFoundError, match="no such spec"):
        load_spec("nope")


def test_shipped_specs_equal_the_documented_copy():
    """data_specs/ at the top level is the documented copy of the specs shipped in the package."""
    from pathlib import Path

    from mrirecon.resources import spec_dir

    top = Path(__file__).resolve().parents[1] / "data_specs"
    shipped = {p.name: p.read_bytes() for p in spec_dir().glob("*.yaml")}
    assert shipped and shipped == {p.name: p.read_bytes() for p in top.glob("*.yaml")}


def test_unet_training_input_is_the_inference_input(phantoms, monkeypatch):
    """Train/test skew check: training pairs are made by models.unet.network_input (the function
    inference uses) through prepare_input, with the network's input spec, and their input is its output."""
    import mrirecon.models.unet as mu
    import mrirecon.train.datasets as tds
    from mrirecon.data.masks import RandomMaskFunc

    calls = []
    real = mu.prepare_input

    def spy(op, y, spec, info=None):
        out = real(op, y, spec, info)
        calls.append((op.num_coils, spec, out[0]))
        return out

    monkeypatch.setattr(mu, "prepare_input", spy)
    spec = {"mode": "sense", "mu": 0.01, "iters": 10}
    ds = tds.UNetSliceDataset(phantoms, RandomMaskFunc([0.08], [4]), seed=0, multicoil_prob=1.0, input_spec=spec)
    x, _ = ds.item(0, (0, 0, 0))
    assert len(calls) == 1 and calls[0][0] >= 4 and calls[0][1] == spec
    assert torch.equal(x, torch.stack([calls[0][2][0].real, calls[0][2][0].imag]))


def test_prepare_keeps_tissue_maps_aligned(tmp_path, monkeypatch):
    """A source with grey / white matter maps: its slices carry (gm, wm, csf) probabilities resampled
    exactly as the image, CSF filling the rest of the object and zero in air; other slices have none."""
    _fake_sources(monkeypatch)
    srcs = (dataclasses.replace(P.SOURCES[0], tissue=(("gm", "g"), ("wm", "w"))),) + P.SOURCES[1:]
    monkeypatch.setattr(P, "SOURCES", srcs)

    def fake_tissue(src, cache, shape):
        gm = np.zeros(shape, np.float32)
        gm[4:16, 5:19, 4:11] = 0.7  # left half of the object mostly grey matter
        wm = np.zeros(shape, np.float32)
        wm[4:16, 5:19, 11:18] = 0.9
        return {"gm": gm, "wm": wm}, [{"class": "gm"}, {"class": "wm"}]

    monkeypatch.setattr(P, "load_tissue", fake_tissue)
    s = P.prepare(P.PrepareConfig(out=tmp_path, cache=tmp_path / "c", size=16))
    assert s["train_slices_with_tissue_maps"] > 0 and s["val_slices_with_tissue_maps"] == 0
    images = P.load_split(tmp_path, "train", 16)
    tissue = P.load_tissue_split(tmp_path, "train", 16)
    with np.load(tmp_path / "train_16.npz") as z:
        vols = z["volume"]
    assert len(tissue) == len(images)
    assert all((t is not None) == (v == "a") for t, v in zip(tissue, vols))
    for img, t in zip(images, tissue):
        if t is None:
            continue
        assert t.shape == (3, 16, 16) and t.min() >= 0
        obj, air = img > 0.2, img == 0
        np.testing.assert_allclose(t.sum(0)[obj & (t.sum(0) > 0)].max(), 1.0, atol=2e-3)  # classes sum to 1
        assert np.abs(t[:, air]).max() < 1e-3  # nothing in air
    assert all(t is None for t in P.load_tissue_split(tmp_path, "val", 16))


def test_tissue_maps_read_checked(tmp_path, monkeypatch):
    src = dataclasses.replace(S.SOURCES[0], name="mni152_2009a", tissue=(("gm", "g"),))
    monkeypatch.setattr(S, "_download", lambda s, c: tmp_path / "x.whl")
    monkeypatch.setattr(S, "_read_member", lambda a, s, m=None: b"payload")
    with pytest.raises(S.SourceError, match="sha256 of g"):
        S.load_tissue(src, tmp_path, (4, 4, 4))
