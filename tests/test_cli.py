"""The command line on tiny inputs: reconstruct (batch reliability), evaluate, data, torchrun."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from mrirecon.cli.main import main
from mrirecon.data.synth import SimConfig, write_simulated

from conftest import phantom


@pytest.fixture
def sim_dir(tmp_path):
    d = tmp_path / "sim"
    imgs = np.stack([phantom(64, s) for s in range(6)])
    for i in range(3):
        write_simulated(d / f"vol{i}.h5", imgs[i:i + 2], SimConfig(coils=4 if i != 1 else 1, snr_db=35, seed=i))
    return d


def test_reconstruct_evaluate_and_outputs(sim_dir, tmp_path):
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in sim_dir.iterdir()}
    rc = main(["reconstruct", str(sim_dir), str(out), "--method", "zero-filled", "--accelerations", "4",
               "--center-fractions", "0.08", "--save", "nifti,png"])
    assert rc == 0
    for i in range(3):
        with h5py.File(out / f"vol{i}.h5") as hf:
            assert hf["reconstruction"].dtype == np.float32 and hf["reconstruction"].shape == (2, 64, 64)
            assert hf["mask"].shape == (64,)
        assert (out / f"vol{i}.nii.gz").exists() and (out / f"vol{i}.png").exists()
    cfg = json.loads((out / "run_config.json").read_text())[-1]  # one record per run
    assert cfg["config"]["method"] == "zero-filled" and "torch" in cfg["versions"]
    assert {p.name: p.read_bytes() for p in sim_dir.iterdir()} == before  # inputs untouched
    # same mask for every method: seeded by file name
    out2 = tmp_path / "out2"
    main(["reconstruct", str(sim_dir), str(out2), "--method", "cs", "--max-iter", "5"])
    with h5py.File(out / "vol0.h5") as a, h5py.File(out2 / "vol0.h5") as b:
        assert np.array_equal(a["mask"][()], b["mask"][()])
    assert main(["evaluate", "--target-path", str(sim_dir), "--predictions-path", str(out)]) == 0
    res = json.loads((out / "metrics.json").read_text())
    assert len(res["volumes"]) == 3 and res["summary"]["PSNR"]["mean"] > 10
    assert (out / "metrics.csv").read_text().startswith("file,slices,NMSE,PSNR,SSIM")


def test_bad_file_in_batch_and_rerun_skips(sim_dir, tmp_path, capsys):
    (sim_dir / "broken.h5").write_bytes(b"not an hdf5 file at all")
    out = tmp_path / "out"
    rc = main(["reconstruct", str(sim_dir), str(out), "--method", "zero-filled"])
    assert rc == 1
    fails = json.loads((out / "failures.json").read_text())
    assert [f["file"] for f in fails] == ["broken.h5"] and "not a readable HDF5" in fails[0]["error"]
    assert "broken.h5" in capsys.readouterr().err  # errors go to stderr
    assert sorted(p.name for p in out.glob("*.h5")) == ["vol0.h5", "vol1.h5", "vol2.h5"]
    mtime = (out / "vol0.h5").stat().st_mtime_ns
    main(["reconstruct", str(sim_dir), str(out), "--method", "zero-filled"])
    assert (out / "vol0.h5").stat().st_mtime_ns == mtime  # skipped
    main(["reconstruct", str(sim_dir), str(out), "--method", "zero-filled", "--overwrite"])
    assert (out / "vol0.h5").stat().st_mtime_ns != mtime


def test_file_with_own_mask_is_used(tmp_path):
    d = tmp_path / "test"
    p = write_simulated(d / "t.h5", phantom(64)[None], SimConfig(coils=1))
    own = np.zeros(64, bool)
    own[::3] = True
    own[28:36] = True
    with h5py.File(p, "a") as hf:
        hf.create_dataset("mask", data=own)
    main(["reconstruct", str(d), str(tmp_path / "o"), "--method", "zero-filled"])
    with h5py.File(tmp_path / "o" / "t.h5") as hf:
        assert np.array_equal(hf["mask"][()].astype(bool), own)


def test_kill_and_resume(sim_dir, tmp_path):
    imgs = np.stack([phantom(64, s) for s in range(4)])
    for i in range(3, 8):
        write_simulated(sim_dir / f"vol{i}.h5", imgs, SimConfig(coils=4, seed=i))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mrirecon", "reconstruct", str(sim_dir), str(out), "--method", "cs",
           "--max-iter", "60", "--batch-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("vol*.h5"))) < 2:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = sorted(out.glob("vol*.h5"))
    assert 2 <= len(done) < 8
    for p in done:  # every output that exists is complete
        with h5py.File(p) as hf:
            assert hf["reconstruction"].shape[0] in (2, 4)
    mtimes = {p.name: p.stat().st_mtime_ns for p in done}
    assert subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    assert len(list(out.glob("vol*.h5"))) == 8
    assert all((out / n).stat().st_mtime_ns == m for n, m in mtimes.items())  # finished files were skipped
    assert not list(out.glob(".*.tmp"))
    # the killed-and-resumed outputs equal an uninterrupted run's bit for bit
    ref = tmp_path / "ref"
    assert subprocess.run(cmd[:4] + [str(sim_dir), str(ref)] + cmd[6:], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0
    for p in sorted(ref.glob("vol*.h5")):
        with h5py.File(p) as a, h5py.File(out / p.name) as b:
            assert np.array_equal(a["reconstruction"][()], b["reconstruction"][()]), p.name


def test_cs_sure_from_cli_records_its_choice(sim_dir, tmp_path):
    out = tmp_path / "cs_sure"
    assert main(["reconstruct", str(sim_dir), str(out), "--method", "cs", "--lamda", "sure", "--accelerations", "2",
                 "--center-fractions", "0.16", "--max-iter", "20"]) == 0
    rec = {d["file"]: d for d in json.loads((out / "timings.json").read_text())}
    assert rec["vol0.h5"]["lamda_rule"] == ["sure", "sure"]  # 4 coils at R=2: GSURE applies
    assert rec["vol1.h5"]["lamda_rule"][0].startswith("auto (GSURE needs multi-coil")  # single-coil: auto
    assert all(v > 0 for d in rec.values() for v in d["lamda"])
    for i in range(3):
        with h5py.File(out / f"vol{i}.h5") as hf:
            assert np.isfinite(hf["reconstruction"][()]).all()


def test_unet_sure_from_cli_records_its_choice(sim_dir, tmp_path):
    from mrirecon.models.io import save_model
    from mrirecon.models.unet import UNet

    torch.manual_seed(0)
    unet_dir = save_model(UNet(chans=4, num_pool_layers=2), tmp_path / "unet", meta={"eps0_mean": 0.01})
    out = tmp_path / "unet_sure"
    assert main(["reconstruct", str(sim_dir), str(out), "--method", "unet", "--weights", str(unet_dir), "--dc-l1", "sure",
                 "--passes", "1", "--dc-l1-iters", "10", "--accelerations", "2", "--center-fractions", "0.16"]) == 0
    rec = {d["file"]: d for d in json.loads((out / "timings.json").read_text())}
    chosen = rec["vol0.h5"]["dc_sure"]  # 4 coils at R=2: one record per slice, the estimate kept and its risk
    assert len(chosen) == 2 and all(c["estimate"] in ("cg", "l1", "cs") for c in chosen)
    assert all(abs(sum(c["weights"].values()) - 1) < 1e-3 for c in chosen if "weights" in c)
    assert "dc_sure" not in rec["vol1.h5"]  # single-coil: no CG solve, nothing to choose
    with h5py.File(out / "vol0.h5") as hf:
        assert np.isfinite(hf["reconstruction"][()]).all()


def test_neural_methods_from_cli(sim_dir, tmp_path):
    from mrirecon.models.io import save_model
    from mrirecon.models.prior import PriorUNet
    from mrirecon.models.unet import UNet

    torch.manual_seed(0)
    unet_dir = save_model(UNet(chans=4, num_pool_layers=2), tmp_path / "unet", meta={"eps0_mean": 0.01})
    prior_dir = save_model(PriorUNet(channels=(8, 16), norm_groups=4), tmp_path / "prior",
                           meta={"schedule": {"num_timesteps": 50}})
    for method, extra in [("unet", ["--weights", str(unet_dir)]),
                          ("ccdf", ["--weights", str(prior_dir), "--unet-weights", str(unet_dir), "--t0", "0.2",
                                    "--steps", "3", "--samples", "2"]),
                          ("ccdf", ["--weights", str(prior_dir), "--unet-weights", str(unet_dir), "--t0", "auto",
                                    "--steps", "2"]),
                          ("diffusion", ["--weights", str(prior_dir), "--steps", "3"]),
                          ("red-diff", ["--weights", str(prior_dir), "--steps", "3"]),
                          ("red-diff", ["--weights", str(prior_dir), "--unet-weights", str(unet_dir), "--steps", "3",
                                        "-o", "init=unet", "-o", "t_max=0.3", "-o", "final_dc=true"]),
                          ("dps", ["--weights", str(prior_dir), "--steps", "3"]),
                          ("dps", ["--weights", str(prior_dir), "--steps", "3", "--option", "zeta=0.5"])]:
        out = tmp_path / f"out_{method}_{len(extra)}"
        assert main(["reconstruct", str(sim_dir), str(out), "--method", method, *extra]) == 0, method
        with h5py.File(out / "vol0.h5") as hf:
            assert np.isfinite(hf["reconstruction"][()]).all()
            if "--samples" in extra:
                assert hf["std"].shape == hf["reconstruction"].shape
    # the weights chosen on the data are recorded per slice: the U-Net's validated consistency weight
    # (multi-coil vol0) and CCDF's validated noise level
    unet_rec = {d["file"]: d for d in json.loads((tmp_path / "out_unet_2" / "timings.json").read_text())}
    assert len(unet_rec["vol0.h5"]["dc_mu"]) == 2 and "dc_mu" not in unet_rec["vol1.h5"]  # vol1: single-coil
    assert all(v in (1, 2) and isinstance(v, int) for d in unet_rec.values() for v in d["passes"])  # the held-out choice
    ccdf_rec = {d["file"]: d for d in json.loads((tmp_path / "out_ccdf_10" / "timings.json").read_text())}
    assert len(ccdf_rec["vol0.h5"]["noise_sigma_validated"]) == 2
    assert all(v >= 0 for v in ccdf_rec["vol0.h5"]["noise_sigma_validated"])
    with pytest.raises(SystemExit) as e:
        main(["reconstruct", str(sim_dir), str(tmp_path / "x"), "--method", "nope"])
    assert e.value.code == 2
    run_cfg = json.loads((tmp_path / "out_dps_6" / "run_config.json").read_text())[-1]
    assert "0.5" in json.dumps(run_cfg) and "zeta" in json.dumps(run_cfg)  # the option reached the solver
    # a mistyped option is an error naming it, not silently ignored
    assert main(["reconstruct", str(sim_dir), str(tmp_path / "y"), "--method", "dps", "--weights", str(prior_dir),
                 "-o", "zeta_typo=2"]) == 2


def test_parse_option():
    from mrirecon.recon import registry
    from mrirecon.recon.options import parse_assignment, parse_assignments

    assert parse_assignment("zeta=3") == ("zeta", "3")
    assert parse_assignments("steps=20,t-0=0.07,") == {"steps": "20", "t_0": "0.07"}
    assert parse_assignments("") == parse_assignments(None) == {}
    assert parse_assignment("t-max=0.25") == ("t_max", "0.25")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_assignment("zeta")
    o = registry.get("red-diff").make_options({"t_max": "0.25", "final_dc": "False", "init": "zeros", "betas": "0.8,0.9"})
    assert (o.t_max, o.final_dc, o.init, o.betas) == (0.25, False, "zeros", (0.8, 0.9))
    assert registry.get("dps").make_options({"zeta": "3"}).zeta == 3.0


def test_data_check_and_simulate(tmp_path, sim_dir, capsys):
    assert main(["data", "check", str(sim_dir / "vol1.h5"), "--spec", "mrirecon_sim_singlecoil"]) == 0
    assert main(["data", "check", str(sim_dir), "--spec", "mrirecon_sim_multicoil"]) == 1
    out = capsys.readouterr().out
    assert "vol0.h5: 4 coils, expected 8" in out and "vol1.h5: kspace rank 3" in out
    prep = tmp_path / "prep"
    prep.mkdir()
    imgs = np.stack([phantom(32, s) for s in range(6)]).astype(np.float16)
    np.savez(prep / "val_32.npz", images=imgs, volume=np.array(["v"] * 6), orientation=np.array(["axial"] * 6),
             index=np.arange(6))
    assert main(["data", "simulate", "--data", str(prep), "--size", "32", "--out", str(tmp_path / "s"),
                 "--n-files", "2", "--slices", "3", "--coils", "8"]) == 0
    assert main(["data", "check", str(tmp_path / "s"), "--spec", "mrirecon_sim_multicoil"]) == 0


def test_torchrun_two_processes(sim_dir, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    if torchrun is None:
        pytest.skip("torchrun not found")
    (sim_dir / "zbroken.h5").write_bytes(b"junk")
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "mrirecon", "reconstruct",  # a free port
                        str(sim_dir), str(out), "--method", "zero-filled", "--device", "cpu"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode != 0  # the broken file makes the run fail at the end
    assert sorted(p.name for p in out.glob("*.h5")) == ["vol0.h5", "vol1.h5", "vol2.h5"]
    merged = json.loads((out / "failures.json").read_text())
    assert [f["file"] for f in merged] == ["zbroken.h5"]
    assert (out / "failures.rank0.json").exists() and (out / "failures.rank1.json").exists()
    t0 = json.loads((out / "timings.rank0.json").read_text())
    t1 = json.loads((out / "timings.rank1.json").read_text())
    assert not {d["file"] for d in t0} & {d["file"] for d in t1}  # no file done twice


def test_sweep_report(sim_dir, tmp_path):
    out = tmp_path / "report"
    rc = main(["sweep", str(sim_dir), "--methods", "zero-filled,cs", "--accelerations", "4,8", "--out", str(out),
               "--max-iter", "5"])
    assert rc == 0
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert {(r["method"], r["acceleration"]) for r in rows} == {(m, a) for m in ("zero-filled", "cs") for a in (4, 8)}
    assert [r["center_fraction"] for r in rows if r["method"] == "cs"] == [0.08, 0.04]
    for name in ("results.csv", "results.md", "psnr_ssim_vs_acceleration.png", "psnr_vs_seconds.png", "grid_R4.png",
                 "grid_R8.png"):
        assert (out / name).stat().st_size > 0, name
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 4 and "zero-filled" in page


def test_sweep_against_the_noiseless_target(sim_dir, tmp_path, capsys):
    """--reference noiseless: every row scored against the simulated files' noiseless targets (its own metrics
    files, the report says which); data without them are refused before anything is reconstructed."""
    from mrirecon.io.fastmri import write_fastmri_file

    out = tmp_path / "report"
    assert main(["sweep", str(sim_dir), "--methods", "zero-filled", "--accelerations", "4", "--out", str(out),
                 "--reference", "noiseless"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["rows"][0]["volumes"] == 3
    rdir = out / "recons" / "zero-filled_R4"
    assert (rdir / "metrics_noiseless.json").exists() and not (rdir / "metrics.json").exists()
    assert "noiseless" in json.dumps(res)
    with h5py.File(sim_dir / "vol0.h5") as hf:
        write_fastmri_file(sim_dir / "zz_plain.h5", hf["kspace"][()], target=hf["reconstruction_rss"][()])
    capsys.readouterr()
    assert main(["sweep", str(sim_dir), "--methods", "zero-filled", "--accelerations", "4", "--out", str(tmp_path / "r2"),
                 "--reference", "noiseless"]) != 0
    assert "zz_plain.h5" in capsys.readouterr().err and not (tmp_path / "r2").exists()


def test_train_dispatch_help(capsys):
    with pytest.raises(SystemExit):
        main(["train", "unet", "--help"])
    assert "--num-pool-layers" in capsys.readouterr().out


def test_flags_a_method_does_not_use_are_errors(sim_dir, tmp_path, capsys):
    out = str(tmp_path / "o")
    cases = [(["--method", "cs", "--samples", "2"], "--n-samples: not an option"),  # alias of n_samples
             (["--method", "red-diff", "--t0", "0.2"], "--t0"),
             (["--method", "ccdf", "--lamda", "0.1"], "--lamda"),
             (["--method", "ccdf", "--t0", "0.2", "-o", "t0=0.3"], "given twice"),
             (["--method", "cs", "--lamda", "-1"], "lamda must be >"),
             (["--method", "ccdf", "--steps", "0"], "steps must be >= 1"),
             (["--method", "ccdf", "--t0", "2"], "t0 must be <= 1"),
             (["--method", "cs", "--max-iter", "0"], "max_iter must be >= 1"),
             (["--method", "cs", "--accelerations", "-4"], "accelerations"),
             (["--method", "cs", "--center-fractions", "1.5"], "center fractions")]
    for args, msg in cases:
        assert main(["reconstruct", str(sim_dir), out, *args]) == 2, args
        err = capsys.readouterr().err
        assert msg in err, (args, err)
        if "not an option" in err:
            assert "its options are" in err
    assert not Path(out).exists()  # refused before anything was written


def test_help_shows_defaults_choices_and_examples(capsys):
    with pytest.raises(SystemExit):
        main(["reconstruct", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "ccdf=0.07" in text and "{auto, cg, replace, none}" in text and "example: mrirecon reconstruct" in text
    assert main(["methods"]) == 0
    listing = capsys.readouterr().out
    assert "ccdf:" in listing and "t0 = 0.07" in listing and "dc_weight = auto" in listing
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0


@pytest.mark.parametrize("argv", [["sr"], ["reconstruct"], ["demo"], ["sweep"], ["train", "srnet"]])
def test_help_states_each_default_once(argv, capsys):
    """A flag's default appears once in its help, never as "(default: None)" for an option decided
    elsewhere (the method's options dataclass, the file); examples keep their line breaks; the train
    commands describe themselves, not their dataclass's signature."""
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    if argv[0] != "train":  # a training field whose default is None says so on purpose (e.g. --val)
        assert "(default: None)" not in flat
    assert not re.search(r"\(default: [^()]*(\([^()]*\))?[^()]*\) \(default:", flat)  # never twice in a row
    if argv == ["sr"]:
        assert "\n          mrirecon sr thick_slices" in out  # the second example on its own line
    if argv[0] == "train":
        assert "Config(" not in out and "Train the feed-forward SR U-Net" in flat
