"""Networks: save/load round trips, clear mismatch errors, and resumable tiny training runs."""
import json
import math

import numpy as np
import pytest
import torch

from mrirecon.models.io import WeightsError, load_model, save_model
from mrirecon.models.prior import PriorUNet
from mrirecon.models.sr3 import SR3Net
from mrirecon.models.unet import UNet

from conftest import phantom


@pytest.mark.parametrize("make", [lambda: UNet(chans=4, num_pool_layers=2), lambda: PriorUNet((8, 16), norm_groups=4),
                                  lambda: SR3Net((8, 16), norm_groups=4)], ids=["unet", "prior", "sr3"])
def test_save_load_roundtrip(tmp_path, make):
    torch.manual_seed(0)
    net = make().eval()
    save_model(net, tmp_path / "w", meta={"note": "x"})
    assert not list((tmp_path / "w").glob("*.pt")) and (tmp_path / "w" / "model.safetensors").exists()
    back = load_model(tmp_path / "w")
    assert back.meta == {"note": "x"} and len(back.weights_sha256) == 64
    for a, b in zip(net.state_dict().values(), back.state_dict().values()):
        assert torch.equal(a, b)
    half = load_model(save_model(net, tmp_path / "h", half=True))
    assert next(half.parameters()).dtype == torch.float32


def test_unet_any_size_and_output():
    net = UNet(chans=4, num_pool_layers=3).eval()
    for h, w in [(37, 50), (64, 64)]:
        assert net(torch.randn(2, 2, h, w)).shape == (2, 2, h, w)
    p = PriorUNet((8, 16), norm_groups=4).eval()
    assert p(torch.randn(1, 2, 45, 33), torch.tensor([5])).shape == (1, 2, 45, 33)


def test_mismatch_errors(tmp_path):
    save_model(UNet(chans=4, num_pool_layers=2), tmp_path / "a")
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    cfg["config"]["chans"] = 8
    (tmp_path / "a" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="model.safetensors: tensor .* has shape"):
        load_model(tmp_path / "a")
    save_model(UNet(chans=4, num_pool_layers=2), tmp_path / "b")
    cfg = json.loads((tmp_path / "b" / "config.json").read_text())
    cfg["config"]["num_pool_layers"] = 3
    (tmp_path / "b" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="missing"):
        load_model(tmp_path / "b")
    with pytest.raises(WeightsError, match="expected 'prior-unet'"):
        load_model(tmp_path / "b", expect="prior-unet")
    with pytest.raises(WeightsError, match="no config.json"):
        load_model(tmp_path / "nothing")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text('{"class": "unet", "config": {"bogus": 1}}')
    with pytest.raises(WeightsError, match="bad config"):
        load_model(tmp_path / "c")


@pytest.fixture
def tiny_data(tmp_path):
    d = tmp_path / "prep"
    d.mkdir()
    for split, n in (("train", 6), ("val", 4)):
        imgs = np.stack([phantom(32, s + (10 if split == "val" else 0)) for s in range(n)]).astype(np.float16)
        np.savez(d / f"{split}_32.npz", images=imgs, volume=np.array([split] * n), orientation=np.array(["axial"] * n),
                 index=np.arange(n))
    return d


def test_unet_training_step_resume(tiny_data, tmp_path):
    from mrirecon.train import UNetTrainConfig, train_unet

    cfg = UNetTrainConfig(data=str(tiny_data), size=32, out=str(tmp_path / "u"), chans=4, num_pool_layers=2,
                          batch_size=2, steps=2, val_every=2, checkpoint_every=2, val_slices=4, threads=1, device="cpu")
    best = train_unet(cfg, log=None)
    m = load_model(best)
    assert m.meta["trained_steps"] == 2 and "R4" in m.meta["eps0"] and m.meta["input"]["mode"] == "sense"
    before = {k: v.clone() for k, v in m.state_dict().items()}
    train_unet(UNetTrainConfig(**{**cfg.__dict__, "steps": 4}), log=None)
    st = json.loads((tmp_path / "u" / "last" / "state.json").read_text())
    assert st["step"] == 4 and [h["step"] for h in st["history"]] == [2, 4]
    assert "resumed from" in (tmp_path / "u" / "train.log").read_text()
    after = load_model(tmp_path / "u" / "best").state_dict()
    assert after.keys() == before.keys()


def test_psnr_loss_is_minus_mean_item_psnr_and_weighs_items_by_relative_error(tiny_data, tmp_path):
    from mrirecon.train import UNetTrainConfig, train_unet
    from mrirecon.train.objectives import psnr_loss

    g = torch.Generator().manual_seed(0)
    tgt = torch.rand(3, 2, 16, 16, generator=g)
    err = torch.randn(3, 2, 16, 16, generator=g) * torch.tensor([0.1, 0.01, 0.001])[:, None, None, None]
    mse = err.pow(2).flatten(1).mean(1)
    assert torch.isclose(psnr_loss(tgt + err, tgt), (10 * torch.log10(mse + 1e-8)).mean(), rtol=1e-5)
    # each item's gradient is its MSE gradient over its MSE: relative to its own error, the item with 100x
    # less error pulls as hard (gradient norm x RMS error is the same for all three)
    pred = (tgt + err).requires_grad_()
    psnr_loss(pred, tgt).backward()
    rel = pred.grad.flatten(1).norm(dim=1) * mse.sqrt()
    assert float(rel.max() / rel.min()) < 1.05, rel  # (the MSE floor 1e-8 moves the last by 1 %)
    with pytest.raises(ValueError, match="loss must be one of"):
        UNetTrainConfig(loss="l2")
    cfg = UNetTrainConfig(data=str(tiny_data), size=32, out=str(tmp_path / "p"), chans=4, num_pool_layers=2,
                          batch_size=2, steps=2, val_every=2, checkpoint_every=2, val_slices=4, threads=1, device="cpu",
                          loss="psnr")
    train_unet(cfg, log=None)
    hist = json.loads((tmp_path / "p" / "last" / "state.json").read_text())["history"]
    assert hist[-1]["loss"] < 0 and math.isfinite(hist[-1]["loss"])  # 10 log10 MSE of images in [0, 1]


def test_prior_training_resume_equals_uninterrupted(tiny_data, tmp_path):
    from mrirecon.train import PriorTrainConfig, train_prior

    base = dict(data=str(tiny_data), size=32, channels=(8, 16), batch_size=2, crop=16, checkpoint_every=2,
                val_every=2, threads=1, device="cpu")
    train_prior(PriorTrainConfig(out=str(tmp_path / "a"), steps=4, **base), log=None)
    train_prior(PriorTrainConfig(out=str(tmp_path / "b"), steps=2, **base), log=None)
    train_prior(PriorTrainConfig(out=str(tmp_path / "b"), steps=4, **base), log=None)
    a = load_model(tmp_path / "a" / "last" / "ema").state_dict()
    b = load_model(tmp_path / "b" / "last" / "ema").state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k  # resuming reproduces the uninterrupted run
    st = json.loads((tmp_path / "b" / "last" / "state.json").read_text())
    assert st["step"] == 4 and "denoise_psnr" in st["history"][-1]


def test_worker_processes_train_exactly_as_in_process(tiny_data, tmp_path):
    """--workers N makes the same items (each drawn from its own seeds) in N processes ahead of the step:
    the trained weights equal those of the in-process run, for every objective."""
    from mrirecon.train import (PriorTrainConfig, SR3TrainConfig, SRNetTrainConfig, UNetTrainConfig, train_prior,
                                train_sr3, train_srnet, train_unet)

    u = dict(data=str(tiny_data), size=32, chans=4, num_pool_layers=2, batch_size=3, steps=3, val_every=3,
             checkpoint_every=3, val_slices=2, threads=1, device="cpu")
    s = dict(data=str(tiny_data), size=32, chans=4, num_pool_layers=2, batch_size=3, steps=3, crop=16, scales=(2, 4),
             checkpoint_every=3, val_every=3, threads=1, device="cpu")
    from safetensors.torch import load_file

    d = dict(data=str(tiny_data), size=32, channels=(8, 16), batch_size=3, steps=3, crop=16, checkpoint_every=3,
             val_every=3, threads=1, device="cpu")
    for fn, cls, base in ((train_unet, UNetTrainConfig, u), (train_srnet, SRNetTrainConfig, s),
                          (train_prior, PriorTrainConfig, d), (train_sr3, SR3TrainConfig, d)):
        fn(cls(out=str(tmp_path / f"{cls.__name__}0"), **base), log=None)
        fn(cls(out=str(tmp_path / f"{cls.__name__}2"), workers=2, **base), log=None)
        a = load_file(str(tmp_path / f"{cls.__name__}0" / "last" / "model.safetensors"))
        b = load_file(str(tmp_path / f"{cls.__name__}2" / "last" / "model.safetensors"))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (cls.__name__, k)
    with pytest.raises(ValueError, match="workers"):
        UNetTrainConfig(workers=-1)


def test_timestep_sampling_modes():
    from mrirecon.train.objectives import sample_timesteps

    g = torch.Generator().manual_seed(0)
    assert sample_timesteps(1000, 1000, "low", 0.25, g).max() < 250
    mixed = sample_timesteps(4000, 1000, "mixed", 0.25, g)
    assert 0.55 < (mixed < 250).float().mean() < 0.7
    with pytest.raises(ValueError):
        sample_timesteps(4, 1000, "nope", 0.25, g)


def test_sr3_training_resume(tiny_data, tmp_path):
    from mrirecon.train import SR3TrainConfig, train_sr3

    base = dict(data=str(tiny_data), size=32, channels=(8, 16), batch_size=2, crop=16, checkpoint_every=1,
                val_every=1, threads=1, device="cpu")
    train_sr3(SR3TrainConfig(steps=1, out=str(tmp_path / "s"), **base), log=None)
    train_sr3(SR3TrainConfig(steps=2, out=str(tmp_path / "s"), **base), log=None)
    train_sr3(SR3TrainConfig(steps=2, out=str(tmp_path / "t"), **base), log=None)
    st = json.loads((tmp_path / "s" / "last" / "state.json").read_text())
    assert st["step"] == 2 and "x2" in st["history"][-1]["val"]
    a = load_model(tmp_path / "s" / "best")
    assert a.meta["trained_steps"] in (1, 2) and a.meta["scales"] == [2, 4]
    from safetensors.torch import load_file

    sa = load_file(str(tmp_path / "s" / "last" / "model.safetensors"))
    sb = load_file(str(tmp_path / "t" / "last" / "model.safetensors"))
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=1e-5), k  # resumed == uninterrupted


def test_train_cli_help_and_config(tiny_data, tmp_path, capsys):
    from mrirecon.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["train", "unet", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "--lr-decay-steps" in text and "lr × 0.1 after this many steps" in text and "(default: 6000)" in text
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data: {tiny_data}\nsize: 32\nchans: 4\nnum_pool_layers: 2\nbatch_size: 2\nval_slices: 4\n"
                   f"steps: 1\nval_every: 1\ncheckpoint_every: 1\nthreads: 1\ndevice: cpu\n")
    out = tmp_path / "run"
    assert main(["train", "unet", "--config", str(cfg), "--out", str(out)]) == 0
    st = json.loads((out / "last" / "state.json").read_text())
    assert st["config"]["chans"] == 4 and st["step"] == 1
    # the saved config feeds back in (flags override it)
    assert main(["train", "unet", "--config", str(out / "last" / "state.json"), "--steps", "2"]) == 0
    assert json.loads((out / "last" / "state.json").read_text())["step"] == 2
    assert main(["train", "unet", "--config", str(cfg), "--out", str(tmp_path / "x"), "--data", str(tmp_path)]) == 2


def test_shipped_weights_load_in_a_fresh_interpreter(tmp_path):
    """The network registry is filled on import: load_model works without importing the classes."""
    import subprocess
    import sys

    code = ("from mrirecon.models.io import load_model\nfrom mrirecon.resources import weights_dir\n"
            "for k in ('unet', 'prior', 'sr3', 'srnet'):\n    print(k, type(load_model(weights_dir(k))).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True).stdout
    assert out.split() == ["unet", "UNet", "prior", "PriorUNet", "sr3", "SR3Net", "srnet", "UNet"]


def test_non_finite_weights_are_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    d = save_model(UNet(chans=4, num_pool_layers=2), tmp_path / "u")
    st = load_file(str(d / "model.safetensors"))
    k = next(iter(st))
    st[k][0] = float("nan")
    save_file(st, str(d / "model.safetensors"))
    with pytest.raises(WeightsError, match="does not match"):  # the recorded sha256 sees the change
        load_model(d)
    cfg = json.loads((d / "config.json").read_text())
    del cfg["sha256"]
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.warns(UserWarning, match="no sha256"), pytest.raises(WeightsError, match="NaN or Inf"):
        load_model(d)


def test_srnet_training_resume_export_and_solver(tiny_data, tmp_path):
    """The SR U-Net starts exactly at cubic interpolation (zero output layer), trains and resumes like
    an uninterrupted run, validates per factor / degradation, exports with its card, and serves both
    `sr --method unet` and CCDF-SR's initializer."""
    from safetensors.torch import load_file

    from mrirecon.physics.sr import Degrade
    from mrirecon.pipeline.solvers import build_solver
    from mrirecon.recon.common import initial_estimate
    from mrirecon.train import SRNetObjective, SRNetTrainConfig, train_srnet
    from mrirecon.train.export import main as export_main

    base = dict(data=str(tiny_data), size=32, chans=4, num_pool_layers=2, batch_size=2, crop=16, scales=(2, 4),
                checkpoint_every=1, val_every=1, threads=1, device="cpu")
    with pytest.raises(ValueError, match="divisible"):
        SRNetTrainConfig(**{**base, "crop": 18})
    with pytest.raises(ValueError, match="degradations"):
        SRNetTrainConfig(**{**base, "degradations": ("blur",)})
    net = SRNetObjective(SRNetTrainConfig(**base)).build_model()
    x = torch.rand(2, 1, 16, 16)
    assert torch.allclose(net(x), x, atol=1e-5)  # training starts at the cubic input
    train_srnet(SRNetTrainConfig(steps=1, out=str(tmp_path / "s"), **base), log=None)
    train_srnet(SRNetTrainConfig(steps=2, out=str(tmp_path / "s"), **base), log=None)
    train_srnet(SRNetTrainConfig(steps=2, out=str(tmp_path / "t"), **base), log=None)
    sa = load_file(str(tmp_path / "s" / "last" / "model.safetensors"))
    sb = load_file(str(tmp_path / "t" / "last" / "model.safetensors"))
    assert all(torch.allclose(sa[k], sb[k], atol=1e-5) for k in sa)  # resumed == uninterrupted
    st = json.loads((tmp_path / "s" / "last" / "state.json").read_text())
    # the validation sets of the trained factors, T1 and two fixed draws of the recipe's contrast families
    assert set(st["history"][-1]["val"]) == {"x2", "x4", "x4z", "x4g", "x2r", "x4s"}
    with pytest.raises(ValueError, match="contrast_probs"):
        SRNetTrainConfig(**{**base, "contrast_probs": (0.6, 0.6, 0.1)})
    # a resumed run whose validation sets changed chooses its best checkpoint anew
    said = []
    state = {"history": [{"val": {"x2": {}, "x4": {}}}], "best_score": 1.0, "config": st["config"]}
    SRNetObjective(SRNetTrainConfig(**base)).on_resume(state, said.append)
    assert state["best_score"] is None and "selection restarts" in said[-1]
    assert export_main(["--only", "srnet", "--srnet", str(tmp_path / "s"), "--dest", str(tmp_path / "w")]) == 0
    card = (tmp_path / "w" / "srnet" / "MODEL_CARD.md").read_text()
    assert "one random in-plane axis" in card and "| x4z |" in card
    w = tmp_path / "w" / "srnet"
    assert load_model(w).meta["task"] == "sr"

    hr = torch.from_numpy(np.stack([phantom(32, s) for s in range(2)])).float()
    for factors, kind in (((2, 2), "box"), ((1, 4), "kspace")):
        op = Degrade(factors, kind)
        y = op.forward(hr)
        solver = build_solver("unet", None, task="sr", weights=str(w), device="cpu")
        sr = solver(op, y).image
        assert sr.shape == hr.shape and torch.isfinite(sr).all()
        assert torch.allclose(op.forward(sr), y, atol=1e-4)  # final consistency projection
        ccdf = build_solver("ccdf", {"init": "unet", "steps": "2"}, task="sr", unet_weights=str(w), device="cpu")
        assert ccdf.init is not None and load_model(w).weights_sha256 == ccdf.init.weights_sha256
        x0 = initial_estimate(op, y.to(torch.complex64), ccdf.init, "CCDF")
        assert x0.is_complex() and torch.allclose(op.forward(x0.real), y, atol=1e-4)
    with pytest.raises(ValueError, match="SR U-Net"):  # the MRI U-Net is not an SR network
        from mrirecon.models.unet import UNet
        from mrirecon.recon.unet import solve_sr

        solve_sr(Degrade(2), hr[:, ::2, ::2], UNet(chans=4, num_pool_layers=2))


@pytest.mark.parametrize("workers", [0, 1])
def test_training_stops_cleanly_on_sigterm(tiny_data, tmp_path, workers):
    """A preempted run (SLURM sends SIGTERM) checkpoints the step it reached and exits normally — with
    data workers too, when the signal reaches the whole process group (SLURM's job step, Ctrl-C's SIGINT):
    the workers leave the signal to the main process instead of dying and taking the run with them."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "mrirecon", "train", "unet", "--data", str(tiny_data), "--size", "32", "--chans", "4",
           "--num-pool-layers", "2", "--batch-size", "2", "--val-slices", "2", "--steps", "100000",
           "--checkpoint-every", "3", "--val-every", "1000000", "--threads", "1", "--device", "cpu", "--out", str(out),
           "--workers", str(workers)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not (out / "last" / "state.json").exists():
            assert proc.poll() is None and time.time() < deadline, "training did not start"
            time.sleep(0.2)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGTERM)  # the main process and its workers, as a scheduler signals a job
        text, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, text
    assert "stopped by signal SIGTERM" in (out / "train.log").read_text()
    st = json.loads((out / "last" / "state.json").read_text())
    assert st["step"] >= 3 and st["history"][-1]["step"] == st["step"]  # the reached step is saved


def test_resume_without_optimizer_state(tiny_data, tmp_path):
    """A checkpoint committed without its Adam moments (and with fp16 weights, to keep git small) still
    resumes: the weights are loaded, the moments start afresh, the log says so."""
    from safetensors.torch import load_file, save_file

    from mrirecon.train import SRNetTrainConfig, train_srnet

    base = dict(data=str(tiny_data), size=32, chans=4, num_pool_layers=2, batch_size=2, crop=16, scales=(2, 4),
                checkpoint_every=1, val_every=1, threads=1, device="cpu", out=str(tmp_path / "s"))
    train_srnet(SRNetTrainConfig(steps=1, **base), log=None)
    last = tmp_path / "s" / "last"
    (last / "optim.safetensors").unlink()
    w = load_file(str(last / "model.safetensors"))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in w.items()}, str(last / "model.safetensors"))
    train_srnet(SRNetTrainConfig(steps=2, **base), log=None)
    assert json.loads((last / "state.json").read_text())["step"] == 2
    assert "no optimizer state" in (tmp_path / "s" / "train.log").read_text()
    assert load_file(str(last / "model.safetensors"))[next(iter(w))].dtype == torch.float32


@pytest.mark.parametrize("cond", [0, 1])
def test_widen_keeps_the_function_and_the_copies_part(cond):
    """Net2WiderNet: the widened U-Net computes what the narrow one does (to rounding), for a doubled
    and a non-multiple width, with a conditioning channel too; the copies of a channel get different
    gradients, so training can part them; narrowing is refused."""
    from mrirecon.models.unet import UNet, widen

    torch.manual_seed(0)
    base = UNet(chans=4, num_pool_layers=2, cond_chans=cond).eval()
    for p in base.parameters():  # not the initialisation's symmetric weights: a trained-like network
        p.data.add_(0.1 * torch.randn_like(p))
    x = torch.randn(2, 2 + cond, 24, 20)
    for chans in (8, 6):
        wide = widen(base, chans).eval()
        assert wide.config_dict()["chans"] == chans and wide.config_dict()["cond_chans"] == cond
        assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in base.parameters())
        with torch.no_grad():
            a, b = base(x), wide(x)
        assert torch.allclose(a, b, atol=1e-5 * float(a.abs().max())), float((a - b).abs().max())
    wide = widen(base, 8).train()
    (wide(x) - x[:, :2]).square().mean().backward()
    g = wide.down[0].layers[0].weight.grad  # output channel j and its copy j + 4 share their forward weights
    assert torch.equal(wide.down[0].layers[0].weight[:4], wide.down[0].layers[0].weight[4:])
    assert not torch.allclose(g[:4], g[4:])
    with pytest.raises(ValueError, match="fewer"):
        widen(base, 2)


def test_training_widens_from_init_and_validates_at_high_snr(tiny_data, tmp_path):
    """``widen_to`` starts a wider run from ``init_from``'s weights (same validation at the start) and a
    resumed run without ``init_from`` builds the same width; ``val_high_snr`` adds a validation set that
    counts in the best-checkpoint score and stays out of eps0."""
    from mrirecon.models.io import save_model
    from mrirecon.models.unet import UNet
    from mrirecon.train import UNetTrainConfig, train_unet
    from mrirecon.train.objectives import UNetObjective

    torch.manual_seed(0)
    folder = save_model(UNet(chans=4, num_pool_layers=2), tmp_path / "narrow",
                        meta={"input": {"mode": "sense", "mu": 0.01, "iters": 10}})
    kw = dict(data=str(tiny_data), size=32, batch_size=2, val_slices=4, threads=1, device="cpu", val_high_snr=50.0,
              recipe="basic")
    ob = UNetObjective(UNetTrainConfig(init_from=str(folder), widen_to=8, **kw))
    ob.setup(torch.device("cpu"), say=lambda *a: None)
    assert set(ob.val) == {"R4", "R8", "R4@50dB"}
    narrow, wide = load_model(folder).eval(), ob.build_model().eval()
    assert wide.config_dict()["chans"] == 8
    v_n, v_w = ob.validate(narrow), ob.validate(wide)
    for k in v_n:
        assert abs(v_n[k]["PSNR"] - v_w[k]["PSNR"]) < 1e-2
    assert ob.score(v_n) == pytest.approx(np.mean([v["PSNR"] for v in v_n.values()]))
    assert set(ob.best_meta(v_n)["eps0"]) == {"R4", "R8"}
    # the high-SNR set: clean multi-coil data, where the input is better than the 25-40 dB sets' inputs
    assert v_n["R4@50dB"]["zf_PSNR"] > v_n["R4"]["zf_PSNR"]
    out = tmp_path / "w"
    train_unet(UNetTrainConfig(init_from=str(folder), widen_to=8, out=str(out), steps=2, val_every=2,
                               checkpoint_every=2, **kw), log=None)
    assert load_model(out / "best").config_dict()["chans"] == 8
    train_unet(UNetTrainConfig(widen_to=8, num_pool_layers=2, out=str(out), steps=3, val_every=3, checkpoint_every=3, **kw),
               log=None)
    assert json.loads((out / "last" / "state.json").read_text())["step"] == 3
    for bad in (dict(widen_to=0), dict(val_high_snr=-3.0)):
        with pytest.raises(ValueError):
            UNetTrainConfig(**bad)
