"""Batch runs a hospital engineer can trust: malformed inputs (each one failure with its cause, the good
files done, every input byte-identical afterwards), usage errors (exit 2, nothing written), honest
resume, lock, umask, signals, provenance."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from mrirecon.cli.main import main
from mrirecon.data.synth import SimConfig, write_simulated
from mrirecon.io.fastmri import make_header

from conftest import phantom


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def good_dir(tmp_path):
    d = tmp_path / "in"
    imgs = np.stack([phantom(32, s) for s in range(4)])
    write_simulated(d / "good_a.h5", imgs[:2], SimConfig(coils=1, snr_db=35, seed=1))
    write_simulated(d / "good_b.h5", imgs[2:], SimConfig(coils=4, snr_db=35, seed=2))
    return d


def _k(shape=(2, 32, 32)):
    g = np.random.default_rng(0)
    return (g.standard_normal(shape) + 1j * g.standard_normal(shape)).astype(np.complex64)


def make_bad(path: Path, kind: str) -> None:
    """Write one malformed file of the given kind."""
    if kind == "junk":
        path.write_bytes(b"this is not an HDF5 file")
        return
    if kind == "empty_file":
        path.write_bytes(b"")
        return
    if kind == "truncated":
        write_simulated(path, np.stack([phantom(32)] * 2), SimConfig(coils=1))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
        return
    with h5py.File(path, "w") as hf:
        if kind == "no_kspace":
            hf.create_dataset("reconstruction_esc", data=np.zeros((2, 32, 32), np.float32))
        elif kind == "kspace_group":
            hf.create_group("kspace")
        elif kind == "rank2":
            hf.create_dataset("kspace", data=_k((32, 32)))
        elif kind == "rank5":
            hf.create_dataset("kspace", data=_k((1, 1, 2, 32, 32)))
        elif kind == "real_dtype":
            hf.create_dataset("kspace", data=np.ones((2, 32, 32), np.float32))
        elif kind == "zero_slices":
            hf.create_dataset("kspace", data=np.zeros((0, 32, 32), np.complex64))
        elif kind == "nan":
            k = _k()
            k[1, 3, 3] = np.nan
            hf.create_dataset("kspace", data=k)
        elif kind == "inf":
            k = _k()
            k[0, 0, 0] = np.inf
            hf.create_dataset("kspace", data=k)
        elif kind == "all_zero":
            hf.create_dataset("kspace", data=np.zeros((2, 32, 32), np.complex64))
        elif kind == "zero_mask":
            hf.create_dataset("kspace", data=_k())
            hf.create_dataset("mask", data=np.zeros(32, bool))
        elif kind == "mask_width":
            hf.create_dataset("kspace", data=_k())
            hf.create_dataset("mask", data=np.ones(31, bool))
        elif kind == "bad_header":
            hf.create_dataset("kspace", data=_k())
            hf.create_dataset("ismrmrd_header", data=b"<ismrmrdHeader><not-closed>")
        elif kind == "header_fields":
            hf.create_dataset("kspace", data=_k())
            hf.create_dataset("ismrmrd_header", data=b"<ismrmrdHeader xmlns='http://www.ismrm.org/ISMRMRD'/>")
        elif kind == "target_slices":
            hf.create_dataset("kspace", data=_k())
            hf.create_dataset("reconstruction_esc", data=np.zeros((3, 32, 32), np.float32))
        elif kind == "2d_mask":
            hf.create_dataset("kspace", data=_k())
            hf.create_dataset("mask", data=np.ones((32, 32), bool))
        else:
            raise KeyError(kind)


MALFORMED = {
    "junk": "not a readable HDF5", "empty_file": "not a readable HDF5", "truncated": "not a readable HDF5",
    "no_kspace": "no 'kspace' dataset", "kspace_group": "'kspace' is not a dataset", "rank2": "rank 2",
    "rank5": "rank 5", "real_dtype": "expected complex64", "zero_slices": "empty", "nan": "NaN or Inf",
    "inf": "NaN or Inf", "all_zero": "k-space of slice 0 is all zero", "zero_mask": "samples no phase-encoding line",
    "mask_width": "does not match the k-space width", "bad_header": "unreadable ismrmrd_header",
    "header_fields": "unreadable ismrmrd_header", "target_slices": "slices but kspace has", "2d_mask": "mask of shape",
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_file_fails_alone(good_dir, tmp_path, kind, capsys):
    make_bad(good_dir / f"bad_{kind}.h5", kind)
    before = _digest(good_dir)
    out = tmp_path / "out"
    assert main(["reconstruct", str(good_dir), str(out), "--method", "zero-filled"]) == 1
    err = capsys.readouterr().err
    assert f"bad_{kind}.h5" in err and MALFORMED[kind] in err, err
    fails = json.loads((out / "failures.json").read_text())
    assert [f["file"] for f in fails] == [f"bad_{kind}.h5"] and MALFORMED[kind] in fails[0]["error"]
    assert sorted(p.name for p in out.glob("*.h5")) == ["good_a.h5", "good_b.h5"]  # the good files are done
    assert _digest(good_dir) == before  # inputs byte-identical


@pytest.mark.parametrize("scale", [1e36, 1e18, 1e-30])
@pytest.mark.parametrize("method", ["zero-filled", "cs", "unet"])
def test_extreme_intensity_scales_give_finite_images(tmp_path, scale, method):
    d = tmp_path / "in"
    p = write_simulated(d / "x.h5", np.stack([phantom(32, 3)] * 2), SimConfig(coils=4, snr_db=40))
    with h5py.File(p, "a") as hf:
        k = hf["kspace"][()]
        del hf["kspace"]
        hf.create_dataset("kspace", data=(k.astype(np.complex128) * scale).astype(np.complex64))
    extra = ["--max-iter", "10"] if method == "cs" else []
    assert main(["reconstruct", str(d), str(tmp_path / "o"), "--method", method, *extra]) == 0
    with h5py.File(tmp_path / "o" / "x.h5") as hf:
        rec = hf["reconstruction"][()]
    assert np.isfinite(rec).all() and rec.max() > 0
    assert 0.05 * scale < float(rec.max()) < 20 * scale  # the data's own intensity scale


def test_input_suffixes(tmp_path):
    d = tmp_path / "in"
    imgs = np.stack([phantom(32)] * 2)
    write_simulated(d / "a.H5", imgs, SimConfig(coils=1))
    write_simulated(d / "b.hdf5", imgs, SimConfig(coils=1))
    (d / "notes.txt").write_text("not an input")
    assert main(["reconstruct", str(d), str(tmp_path / "o"), "--method", "zero-filled"]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if p.suffix.lower() in (".h5", ".hdf5")) == ["a.H5", "b.hdf5"]


USAGE = [
    (["--accelerations", "-4"], "accelerations"), (["--center-fractions", "1.5"], "center fractions"),
    (["--method", "cs", "--max-iter", "0"], "max_iter"), (["--method", "cs", "--lamda", "-1"], "lamda"),
    (["--method", "ccdf", "--steps", "0"], "steps"), (["--method", "ccdf", "--t0", "0.2", "-o", "t0=0.3"], "given twice"),
    (["--batch-size", "0"], "batch size"), (["--method", "cs", "--t0", "0.2"], "not an option of method 'cs'"),
]


@pytest.mark.parametrize("args,msg", USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_bad_flags_exit_2_and_write_nothing(good_dir, tmp_path, args, msg, capsys):
    out = tmp_path / "out"
    assert main(["reconstruct", str(good_dir), str(out), *args]) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists()


def test_output_locations_that_would_touch_inputs_are_refused(good_dir, tmp_path, capsys):
    before = _digest(good_dir)
    for out in (good_dir, good_dir / "sub"):
        assert main(["reconstruct", str(good_dir), str(out), "--method", "zero-filled", "--overwrite"]) == 2
        assert "inputs are never written" in capsys.readouterr().err
    assert main(["reconstruct", str(good_dir / "good_a.h5"), str(good_dir), "--method", "zero-filled"]) == 2
    assert _digest(good_dir) == before and not (good_dir / "sub").exists()
    (tmp_path / "afile").write_text("x")
    assert main(["reconstruct", str(good_dir), str(tmp_path / "afile"), "--method", "zero-filled"]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["reconstruct", str(tmp_path / "missing"), str(tmp_path / "o"), "--method", "zero-filled"]) == 2
    assert "input not found" in capsys.readouterr().err
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert main(["reconstruct", str(loop), str(tmp_path / "o"), "--method", "zero-filled"]) == 2
    assert "symbolic link loop" in capsys.readouterr().err


def test_weights_with_nan_or_wrong_hash_are_refused(good_dir, tmp_path, capsys):
    import shutil

    from safetensors.torch import load_file, save_file

    from mrirecon.resources import weights_dir

    w = tmp_path / "w"
    shutil.copytree(weights_dir("unet"), w)
    st = load_file(str(w / "model.safetensors"))
    k = next(iter(st))
    st[k] = st[k].clone()
    st[k].view(-1)[0] = float("nan")
    save_file(st, str(w / "model.safetensors"))
    assert main(["reconstruct", str(good_dir), str(tmp_path / "o"), "--method", "unet", "--weights", str(w)]) == 2
    assert "does not match" in capsys.readouterr().err  # the recorded sha256 catches the change first
    cfg = json.loads((w / "config.json").read_text())
    del cfg["sha256"]
    (w / "config.json").write_text(json.dumps(cfg))
    with pytest.warns(UserWarning, match="no sha256"):
        assert main(["reconstruct", str(good_dir), str(tmp_path / "o2"), "--method", "unet", "--weights", str(w)]) == 2
    assert "NaN or Inf" in capsys.readouterr().err


def test_resume_is_honest(good_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reconstruct", str(good_dir), str(out), "--method", "zero-filled"]) == 0
    a = out / "good_a.h5"
    prov = json.loads(h5py.File(a)["reconstruction"].file.attrs["provenance"])
    assert prov["method"] == "zero-filled" and prov["accelerations"] == [4] and "torch" in prov["versions"]
    mtime = a.stat().st_mtime_ns
    (out / "good_b.h5").write_bytes(b"")  # a 0-byte output is not "done"
    assert main(["reconstruct", str(good_dir), str(out), "--method", "zero-filled"]) == 0
    assert a.stat().st_mtime_ns == mtime and (out / "good_b.h5").stat().st_size > 0
    # another method into the same folder: refused per file, nothing replaced
    assert main(["reconstruct", str(good_dir), str(out), "--method", "cs", "--max-iter", "3"]) == 1
    assert "made with other settings" in capsys.readouterr().err and a.stat().st_mtime_ns == mtime
    assert main(["reconstruct", str(good_dir), str(out), "--method", "cs", "--max-iter", "3", "--overwrite"]) == 0
    runs = json.loads((out / "run_config.json").read_text())
    assert [r["config"]["method"] for r in runs] == ["zero-filled", "zero-filled", "cs", "cs"]  # accumulated
    timings = json.loads((out / "timings.json").read_text())
    assert sorted(t["file"] for t in timings) == ["good_a.h5", "good_b.h5"]  # one record per file, the latest
    fails = json.loads((out / "failures.json").read_text())
    assert len(fails) == 2 and all("other settings" in f["error"] for f in fails)


def test_lock_refuses_a_second_run_and_stale_locks_are_taken_over(good_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".mrirecon.lock").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    assert main(["reconstruct", str(good_dir), str(out), "--method", "zero-filled"]) == 2
    assert "another run" in capsys.readouterr().err and not list(out.glob("*.h5"))
    (out / ".mrirecon.lock").write_text(json.dumps({"pid": 2 ** 22 + 7, "host": os.uname().nodename}))
    assert main(["reconstruct", str(good_dir), str(out), "--method", "zero-filled"]) == 0
    assert not (out / ".mrirecon.lock").exists()


def test_outputs_honour_the_umask(good_dir, tmp_path):
    old = os.umask(0o027)
    try:
        assert main(["reconstruct", str(good_dir), str(tmp_path / "o"), "--method", "zero-filled"]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "o" / "good_a.h5").stat().st_mode & 0o777 == 0o640


def test_poisson_mask_is_stored_2d(good_dir, tmp_path):
    assert main(["reconstruct", str(good_dir / "good_a.h5"), str(tmp_path / "o"), "--method", "zero-filled",
                 "--mask-type", "poisson", "--accelerations", "4"]) == 0
    with h5py.File(tmp_path / "o" / "good_a.h5") as hf:
        m = hf["mask"][()]
    assert m.shape == (32, 32) and 0 < m.mean() < 1 and not (m == m[:1]).all()


def test_sigterm_writes_summaries_and_exits_143(tmp_path):
    d = tmp_path / "in"
    imgs = np.stack([phantom(32, s) for s in range(4)])
    for i in range(10):  # enough work that the run cannot finish between the first output and the signal
        write_simulated(d / f"v{i}.h5", imgs, SimConfig(coils=4, seed=i))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mrirecon", "--quiet", "reconstruct", str(d), str(out), "--method", "cs",
           "--max-iter", "150", "--batch-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("v*.h5")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert (out / "timings.json").exists() and (out / "failures.json").exists()
    assert not (out / ".mrirecon.lock").exists() and not list(out.glob(".*.tmp"))
    done = json.loads((out / "timings.json").read_text())
    assert 1 <= len(done) < 10


def test_evaluate_survives_an_unreadable_target(good_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["reconstruct", str(good_dir), str(out), "--method", "zero-filled"]) == 0
    (good_dir / "zz_bad.h5").write_bytes(b"junk")
    assert main(["evaluate", "--target-path", str(good_dir), "--predictions-path", str(out)]) == 1
    cap = capsys.readouterr()
    assert "zz_bad.h5" in cap.err and "2 standard deviations" in cap.out


def test_evaluate_against_the_noiseless_target(good_dir, tmp_path, capsys):
    """``--reference noiseless`` scores simulated files against their target without the noise (its own
    metrics files); a file without one is a failure that names it, the others are still scored."""
    from mrirecon.eval.evaluate import evaluate_dirs
    from mrirecon.io.fastmri import write_fastmri_file

    out = tmp_path / "out"
    assert main(["reconstruct", str(good_dir), str(out), "--method", "zero-filled"]) == 0
    noisy = evaluate_dirs(good_dir, out)
    clean = evaluate_dirs(good_dir, out, reference="noiseless")
    assert [r["file"] for r in clean["volumes"]] == ["good_a.h5", "good_b.h5"] and not clean["failed"]
    assert all(a["PSNR"] != b["PSNR"] for a, b in zip(noisy["volumes"], clean["volumes"]))
    with h5py.File(good_dir / "good_a.h5") as hf:
        write_fastmri_file(good_dir / "plain.h5", hf["kspace"][()], target=hf["reconstruction_esc"][()])
    assert main(["reconstruct", str(good_dir / "plain.h5"), str(out), "--method", "zero-filled"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--target-path", str(good_dir), "--predictions-path", str(out),
                 "--reference", "noiseless"]) == 1
    cap = capsys.readouterr()
    assert "plain.h5" in cap.err and "no noiseless target" in cap.err
    assert (out / "metrics_noiseless.json").exists()
    assert len(json.loads((out / "metrics_noiseless.json").read_text())["volumes"]) == 2
    with pytest.raises(ValueError, match="reference"):
        evaluate_dirs(good_dir, out, reference="clean")


def test_demo_table_has_noiseless_columns_when_the_file_has_them():
    from mrirecon.pipeline.demo import demo_table

    row = {"R": 4, "method": "cs", "PSNR": 25.0, "SSIM": 0.7, "NMSE": 0.02, "s_per_slice": 0.5}
    plain = demo_table([row])
    assert plain[0] == "| R | method | PSNR (dB) | SSIM | NMSE | s/slice |" and plain[2] == "| 4 | cs | 25.00 | 0.7000 | 0.0200 | 0.50 |"
    both = demo_table([dict(row, PSNR_noiseless=26.0, SSIM_noiseless=0.65)])
    assert "PSNR, noiseless" in both[0] and both[1].count("---") == 8
    assert both[2] == "| 4 | cs | 25.00 | 0.7000 | 0.0200 | 26.00 | 0.6500 | 0.50 |"


def test_sigterm_waits_while_a_finished_file_is_written_and_recorded():
    """A SIGTERM after a file's first output write waits until its record is kept (``before_write`` holds it,
    the batch releases it after the record), so no finished output goes unrecorded in timings.json."""
    import os

    from mrirecon.pipeline import batch

    old = signal.getsignal(signal.SIGTERM)
    try:
        batch.install_signal_handlers()
        with pytest.raises(batch.Terminated):
            os.kill(os.getpid(), signal.SIGTERM)  # outside the hold: raised at once
        batch._hold_termination()
        os.kill(os.getpid(), signal.SIGTERM)  # held: nothing raised yet
        with pytest.raises(batch.Terminated):
            batch._release_termination()
        batch._release_termination()  # nothing pending any more
    finally:
        signal.signal(signal.SIGTERM, old)
