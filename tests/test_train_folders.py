"""Training on fastMRI-layout folders (your own data): every objective on tiny brain-like multi-coil
(oversampled readout, varying widths, 4 coils) and knee-like single-coil folders; torchrun with 2 gloo
processes equals one process with twice the batch; bf16 autocast on CPU; the training-size warning."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mrirecon.data.synth import SimConfig, simulate_kspace
from mrirecon.io.fastmri import make_header, write_fastmri_file
from mrirecon.physics.fft import center_crop

from conftest import phantom


def _volume(path: Path, width: int, coils: int, seed: int):
    """2 slices, readout 64 (2x oversampled), ``width`` phase-encoding columns, 32x32 recon targets."""
    mags = np.stack([np.pad(phantom(32, seed + s), ((0, 0), ((width - 32) // 2, width - 32 - (width - 32) // 2)))
                     for s in range(2)])
    k, tgt = simulate_kspace(mags, SimConfig(coils=coils, snr_db=35, readout_oversampling=2, seed=seed))
    tgt = center_crop(tgt, (32, 32)).numpy()
    hdr = make_header((64, width, 1), (32, 32, 1), (440.0, 220.0, 5.0), (220.0, 220.0, 5.0))
    key = "reconstruction_rss" if coils > 1 else "reconstruction_esc"
    write_fastmri_file(path, k.numpy(), target=tgt, target_key=key, header=hdr,
                       attrs={"max": float(tgt.max()), "norm": float(np.linalg.norm(tgt)), "acquisition": "AXT1",
                              "patient_id": path.stem})


@pytest.fixture(scope="module")
def brain(tmp_path_factory):
    d = tmp_path_factory.mktemp("brain_multicoil")
    for i, w in enumerate((40, 44, 40)):
        _volume(d / f"file_brain_{i}.h5", w, 4, i)
    return d


@pytest.fixture(scope="module")
def knee(tmp_path_factory):
    d = tmp_path_factory.mktemp("knee_singlecoil")
    for i in range(2):
        _volume(d / f"file_knee_{i}.h5", 36, 1, 10 + i)
    (d / "broken.h5").write_bytes(b"junk")
    return d


def _train(what, data, out, *extra):
    from mrirecon.cli.main import main

    common = ["--data", str(data), "--out", str(out), "--steps", "2", "--batch-size", "2", "--checkpoint-every", "1",
              "--val-every", "2", "--threads", "1", "--device", "cpu"]
    size = {"unet": ["--chans", "4", "--num-pool-layers", "2", "--val-slices", "2"],
            "prior": ["--channels", "8,16", "--crop", "16"], "sr3": ["--channels", "8,16", "--crop", "16"]}[what]
    return main(["train", what, *common, *size, *extra])


@pytest.mark.parametrize("what", ["unet", "prior", "sr3"])
def test_each_objective_on_a_multicoil_folder(brain, tmp_path, what):
    out = tmp_path / what
    assert _train(what, brain, out, "--challenge", "multicoil") == 0
    st = json.loads((out / "last" / "state.json").read_text())
    assert st["step"] == 2 and all(np.isfinite(h["loss"]) for h in st["history"])
    assert "samples_per_s" in st["history"][-1]
    from mrirecon.models.io import load_model

    best = load_model(out / "best")
    assert best.meta["trained_steps"] == 2 and "train_size" in best.meta
    if what == "prior":
        assert list((out / "cache").glob("*.npy"))  # coil-combined images computed once, cached
        _export_prior_with_matrix(out, tmp_path)


def _export_prior_with_matrix(run: Path, tmp_path: Path):
    """``train export --prior-bench``: the card gains the per-cell table of bench_robust's CCDF /
    diffusion columns (other methods left out) and per contrast each column's mean over the cells that have every
    column of its method."""
    from mrirecon.train.export import main as export_main

    def row(snr, coils, **methods):
        return {"contrast": "t1", "snr": snr, "coils": coils, "radius": 1.5 if coils > 1 else 0.0, "R": 4,
                "mask": "random", "methods": {"zero-filled": {"PSNR": 1.0, "SSIM": 0.1},
                                              **{k: {"PSNR": v, "SSIM": 0.5} for k, v in methods.items()}}}

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps([row(20.0, 8, **{"ccdf dc auto": 25.0}), row(30.0, 1, **{"ccdf dc auto": 21.0})]))
    b.write_text(json.dumps([row(20.0, 8, **{"ccdf dc auto": 26.0, "diffusion": 24.0}),  # later file wins
                             row(30.0, 1, **{"ccdf other": 20.0})]))
    assert export_main(["--only", "prior", "--prior", str(run), "--dest", str(tmp_path / "w"),
                        "--prior-bench", str(a), str(b), "--prior-bench-labels", "ccdf dc auto=ccdf (new)"]) == 0
    card = (tmp_path / "w" / "prior" / "MODEL_CARD.md").read_text()
    assert "| contrast | SNR dB | coils | radius | R | mask | ccdf (new) | diffusion | ccdf other |" in card
    assert "| t1 | 20 | 8 | 1.5 | 4 | random | 26.00 / 0.500 | 24.00 / 0.500 | – |" in card
    assert "| t1 | 30 | 1 | 0 | 4 | random | 21.00 / 0.500 | – | 20.00 / 0.500 |" in card
    # each mean over the cells with every ccdf column (one) and every diffusion column (one)
    assert "| mean, t1 (cells) | | | | | | 21.00 / 0.500 (1) | 24.00 / 0.500 (1) | 20.00 / 0.500 (1) |" in card
    assert "zero-filled" not in card
    with pytest.raises(SystemExit, match="not 'bench column=label'"):
        export_main(["--only", "prior", "--prior", str(run), "--dest", str(tmp_path / "w"), "--prior-bench", str(a),
                     "--prior-bench-labels", "ccdf dc auto"])


def test_unet_on_single_coil_knee_folder_skips_a_bad_file(knee, tmp_path, capsys):
    assert _train("unet", knee, tmp_path / "u", "--challenge", "singlecoil") == 0
    out = capsys.readouterr()
    assert (out.out + out.err).count("broken.h5") == 1  # reported once
    assert _train("unet", knee, tmp_path / "v", "--challenge", "multicoil") == 2  # no multi-coil files there


def test_noise_conditioned_unet_from_trained_weights(brain, tmp_path):
    assert _train("unet", brain, tmp_path / "a", "--challenge", "multicoil") == 0
    assert _train("unet", brain, tmp_path / "b", "--challenge", "multicoil", "--noise-cond", "true",
                  "--init-from", str(tmp_path / "a" / "best")) == 0
    from mrirecon.models.io import load_model

    net = load_model(tmp_path / "b" / "best")
    assert net.cond_chans == 1 and net.meta["input"]["noise_cond"] is True


def test_bf16_autocast_and_accumulation_on_cpu(brain, tmp_path):
    assert _train("prior", brain, tmp_path / "p", "--amp", "bf16", "--accum-steps", "2") == 0
    st = json.loads((tmp_path / "p" / "last" / "state.json").read_text())
    assert st["step"] == 2 and np.isfinite(st["history"][-1]["loss"])


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "train.log").read_text().splitlines() if line.startswith("{")]


def test_torchrun_two_processes_equal_one_process_with_twice_the_batch(brain, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not found")
    args = ["train", "prior", "--data", str(brain), "--steps", "3", "--checkpoint-every", "1", "--val-every", "3",
            "--channels", "8,16", "--crop", "16", "--threads", "1", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    logs = tmp_path / "torchrun_logs"
    # --standalone: a free rendezvous port (a fixed one can be taken); each rank's output goes to its own log file
    r = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "--log-dir", str(logs), "--redirects", "3",
                        "-m", "mrirecon", *args, "--out", str(tmp_path / "ddp"), "--batch-size", "2"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-1500:] + "".join(f"\n--- {f.relative_to(logs)}\n{f.read_text()[-3000:]}"
                                                       for f in sorted(logs.rglob("*.log")))
    r1 = subprocess.run([sys.executable, "-m", "mrirecon", *args, "--out", str(tmp_path / "one"), "--batch-size", "4"],
                        capture_output=True, text=True, env=env, timeout=600)
    assert r1.returncode == 0, r1.stderr[-2000:]
    a, b = _losses(tmp_path / "ddp"), _losses(tmp_path / "one")
    assert len(a) == len(b) == 3
    np.testing.assert_allclose(a, b, rtol=1e-4)
    from safetensors.torch import load_file

    wa = load_file(str(tmp_path / "ddp" / "last" / "model.safetensors"))
    wb = load_file(str(tmp_path / "one" / "last" / "model.safetensors"))
    for k in wa:
        assert torch.allclose(wa[k], wb[k], atol=1e-4), k


def test_network_far_from_its_training_size_warns():
    from mrirecon.recon.unet import reconstruct
    from mrirecon.models.unet import UNet
    from mrirecon.physics import SingleCoilMRI

    net = UNet(chans=4, num_pool_layers=2).eval()
    net.meta = {"train_size": 32}
    m = torch.ones(1, 128, 128)
    y = torch.zeros(1, 128, 128, dtype=torch.complex64)
    y[0, 64, 64] = 1
    with pytest.warns(UserWarning, match="trained on 32"):
        reconstruct(SingleCoilMRI(m), y, net)
