"""Raw data in, DICOM out: ISMRMRD files written with the ismrmrd package convert back bit-exactly;
the twixtools example (real Siemens raw data) converts and reconstructs; DICOM series round-trip."""
import hashlib
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from mrirecon.cli.main import main
from mrirecon.data.convert import convert
from mrirecon.io.fastmri import FastMRIFile, make_header
from mrirecon.io.raw import RawDataError

ismrmrd = pytest.importorskip("ismrmrd")

TWIX_SHA256 = "10ce71c8cba94fb47989fe69d45c86673508f178e8b4c2399e805f27936b01ca"


def write_ismrmrd(path, k, lines, *, noise=None, averages=1, trajectory="cartesian", enc_z=1, same_counter=False,
                  recon=None, reverse_every_other=False):
    """k: (slices, coils, kx, ky) complex; ``lines``: the ky indices acquired (every slice)."""
    s, c, kx, ky = k.shape
    rx, ry = recon or (kx, ky)
    xml = make_header((kx, ky, enc_z), (rx, ry, 1), (2.0 * kx, 2.0 * ky, 5.0), (2.0 * rx, 2.0 * ry, 5.0), slices=s,
                      protocol="AXT2_TEST", patient_id="p0042").decode()
    xml = xml.replace("<trajectory>cartesian</trajectory>", f"<trajectory>{trajectory}</trajectory>")
    ds = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    ds.write_xml_header(xml)
    if noise is not None:
        acq = ismrmrd.Acquisition.from_array(noise)
        acq.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
        ds.append_acquisition(acq)
    for sl in range(s):
        for a in range(averages):
            for j, line in enumerate(lines):
                data = k[sl, :, :, line]
                if averages > 1:  # averages differ by ± the same perturbation, which the mean removes
                    d = 0.01 * np.random.default_rng(1000 * sl + line).standard_normal(data.shape)
                    data = data + (1 if a % 2 else -1) * d
                rev = reverse_every_other and j % 2 == 1
                acq = ismrmrd.Acquisition.from_array(np.ascontiguousarray(data[:, ::-1] if rev else data).astype(np.complex64))
                if rev:
                    acq.set_flag(ismrmrd.ACQ_IS_REVERSE)
                acq.idx.kspace_encode_step_1 = 0 if same_counter else line
                acq.idx.slice = sl
                acq.idx.average = a
                acq.position[:] = (0.0, 0.0, 5.0 * sl)
                acq.read_dir[:] = (1.0, 0.0, 0.0)
                acq.phase_dir[:] = (0.0, 1.0, 0.0)
                acq.slice_dir[:] = (0.0, 0.0, 1.0)
                ds.append_acquisition(acq)
    ds.close()
    return path, xml


def kspace(slices=2, coils=4, kx=32, ky=24, seed=0):
    g = np.random.default_rng(seed)
    return (g.standard_normal((slices, coils, kx, ky)) + 1j * g.standard_normal((slices, coils, kx, ky))).astype(np.complex64)


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize("full", [True, False])
def test_ismrmrd_roundtrip_bit_exact(tmp_path, coils, full):
    k = kspace(coils=coils)
    lines = list(range(24)) if full else sorted(set(range(0, 24, 3)) | set(range(10, 14)))
    noise = (np.arange(coils * 64).reshape(coils, 64) * (1 + 1j)).astype(np.complex64)
    src, xml = write_ismrmrd(tmp_path / "raw.h5", k, lines, noise=noise, reverse_every_other=True)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = convert(src, tmp_path / "out")
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before  # input untouched
    with h5py.File(out) as hf:
        got = hf["kspace"][()]
        want = k if coils > 1 else k[:, 0]
        mask = np.zeros(24, bool)
        mask[lines] = True
        assert np.array_equal(got, want * mask)  # every acquired line bit-exact, the rest zero
        assert hf["ismrmrd_header"][()].decode() == xml  # verbatim
        assert np.array_equal(hf["noise"][()], noise)
        assert ("mask" in hf) == (not full)
        if not full:
            assert np.array_equal(hf["mask"][()], mask)
        key = "reconstruction_rss" if coils > 1 else "reconstruction_esc"
        assert (key in hf) == full  # targets only for fully sampled data
        geo = json.loads(hf.attrs["geometry"])
        assert geo["slices"][1]["position"] == [0.0, 0.0, 5.0]
        assert hf.attrs["patient_id"] == "p0042" and hf.attrs["acquisition"] == "AXT2_TEST"
    f = FastMRIFile(out)  # the rest of the toolkit reads it unchanged
    assert f.num_slices == 2 and f.num_coils == coils and f.recon_size == (32, 24)


def test_ismrmrd_averages_are_combined(tmp_path):
    k = kspace(slices=1, coils=2)
    src, _ = write_ismrmrd(tmp_path / "raw.h5", k, list(range(24)), averages=2)
    with h5py.File(convert(src, tmp_path / "o")) as hf:
        np.testing.assert_allclose(hf["kspace"][()], k, atol=1e-6)  # the ±noise of the two averages cancels


@pytest.mark.parametrize("kind,msg", [("radial", "only Cartesian"), ("3d", "3-D"), ("counters", "missing encoding counters"),
                                      ("junk", "neither an ISMRMRD"), ("missing", "file not found")])
def test_unsupported_raw_data_is_one_clear_error(tmp_path, kind, msg):
    k = kspace(slices=1, coils=2)
    p = tmp_path / "bad.h5"
    if kind == "radial":
        write_ismrmrd(p, k, list(range(24)), trajectory="radial")
    elif kind == "3d":
        write_ismrmrd(p, k, list(range(24)), enc_z=8)
    elif kind == "counters":
        write_ismrmrd(p, k, list(range(24)), same_counter=True)
    elif kind == "junk":
        p.write_bytes(b"not hdf5")
    else:
        p = tmp_path / "nope.dat"
    with pytest.raises(RawDataError, match=msg) as e:
        convert(p, tmp_path / "out")
    assert str(p) in str(e.value)
    assert not list((tmp_path / "out").glob("*.h5")) if (tmp_path / "out").exists() else True


def test_convert_cli_goes_on_after_a_bad_file(tmp_path, capsys):
    good, _ = write_ismrmrd(tmp_path / "good.h5", kspace(slices=1), list(range(24)))
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"junk")
    assert main(["data", "convert", str(bad), str(good), "--out", str(tmp_path / "o")]) == 1
    assert (tmp_path / "o" / "good.h5").exists()
    assert "bad.h5" in capsys.readouterr().err
    assert main(["data", "convert", str(good), "--out", str(tmp_path)]) == 1  # would overwrite the input


@pytest.fixture(scope="module")
def twix_file(tmp_path_factory):
    """gre.dat from the twixtools 0.24 sdist on PyPI (Siemens, 2 coils, phantom, fully sampled)."""
    cache = Path.home() / ".cache" / "mrirecon-tests"
    dat = cache / "gre.dat"
    if not dat.exists():
        cache.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                            "twixtools==0.24", "-d", str(cache), "-q"], capture_output=True, text=True, timeout=300)
        sdist = cache / "twixtools-0.24.tar.gz"
        if r.returncode or not sdist.exists():
            pytest.skip(f"the package index is unreachable (pip download twixtools==0.24 failed: {r.stderr[-200:]})")
        with tarfile.open(sdist) as tf:
            member = tf.getmember("twixtools-0.24/example_data/gre.dat")
            dat.write_bytes(tf.extractfile(member).read())
    assert hashlib.sha256(dat.read_bytes()).hexdigest() == TWIX_SHA256
    return dat


def test_twix_converts_and_reconstructs(twix_file, tmp_path):
    pytest.importorskip("twixtools")
    out = convert(twix_file, tmp_path / "fastmri")
    f = FastMRIFile(out)
    assert f.kspace_shape == (1, 2, 320, 160) and f.recon_size == (160, 160)  # 2x readout oversampling kept
    assert f.header.encoding_fov_mm[0] == 2 * f.header.recon_fov_mm[0]
    target = f.volume_target()
    assert target.shape == (1, 160, 160) and target.max() > 0
    from mrirecon.eval.metrics import evaluate_volume

    psnr = {}
    for r, cf in ((2, 0.16), (4, 0.08)):
        rec = tmp_path / f"R{r}"
        assert main(["reconstruct", str(out), str(rec), "--method", "zero-filled", "--accelerations", str(r),
                     "--center-fractions", str(cf), "--save", "dicom"]) == 0
        with h5py.File(rec / "gre.h5") as hf:
            psnr[r] = evaluate_volume(target, hf["reconstruction"][()])["PSNR"]
        assert (rec / "gre_dicom" / "IM0001.dcm").exists()
    assert psnr[2] > psnr[4] > 15  # less undersampling, closer to the fully sampled image


def test_dicom_series_roundtrip_and_geometry(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from mrirecon.io.dicom import read_dicom_series, write_dicom_series

    g = np.random.default_rng(1)
    vol = (g.random((3, 20, 16)) * 1e-4).astype(np.float32)  # raw-data scale
    geometry = {"slices": [{"position": [10.0, -5.0, 4.0 * i], "read_dir": [0, 1, 0], "phase_dir": [1, 0, 0],
                            "slice_dir": [0, 0, 1]} for i in range(3)]}
    d = write_dicom_series(tmp_path / "s", vol, pixel_spacing=(1.5, 2.0), slice_thickness=4.0, geometry=geometry,
                           series_description="mrirecon ccdf R=4", patient_id="p1")
    back, dss = read_dicom_series(d)
    step = float(dss[0].RescaleSlope)
    assert np.abs(back - vol).max() <= step / 2 + 1e-12  # within the quantisation step
    assert len({x.SOPInstanceUID for x in dss}) == 3 and len({x.SeriesInstanceUID for x in dss}) == 1
    assert dss[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and dss[0].SeriesDescription == "mrirecon ccdf R=4"
    assert [float(v) for v in dss[0].PixelSpacing] == [1.5, 2.0] and float(dss[0].SliceThickness) == 4.0
    assert [float(v) for v in dss[0].ImageOrientationPatient] == [1, 0, 0, 0, 1, 0]
    # the centre voxel of slice i sits at the header's slice position
    for i, ds in enumerate(dss):
        ipp = np.array([float(v) for v in ds.ImagePositionPatient])
        centre = ipp + (16 - 1) / 2 * 2.0 * np.array([1, 0, 0]) + (20 - 1) / 2 * 1.5 * np.array([0, 1, 0])
        np.testing.assert_allclose(centre, [10.0, -5.0, 4.0 * i], atol=1e-3)
    with pytest.raises(FileExistsError):
        write_dicom_series(d, vol)
    for bad in (vol * np.nan, vol * 0):
        with pytest.raises(ValueError):
            write_dicom_series(tmp_path / "b", bad)
    assert not (tmp_path / "b").exists()
    validator = subprocess.run(["which", "dciodvfy"], capture_output=True, text=True).stdout.strip()
    if validator:
        r = subprocess.run([validator, str(d / "IM0001.dcm")], capture_output=True, text=True)
        errors = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("Error")]
        assert not errors, errors


def test_nifti_and_dicom_agree_on_world_coordinates(tmp_path):
    """A voxel of the NIfTI output and the same voxel of the DICOM series sit at the same place."""
    from mrirecon.io.dicom import read_dicom_series, write_dicom_series
    from mrirecon.io.nifti import geometry_affine, save_nifti

    nib = pytest.importorskip("nibabel")
    vol = np.random.default_rng(0).random((3, 10, 8)).astype(np.float32) + 0.1
    s2 = 2 ** -0.5
    geometry = {"slices": [{"position": [5.0, 2.0 + 3.0 * i * s2, 3.0 * i * s2], "read_dir": [0, s2, -s2],
                            "phase_dir": [1, 0, 0], "slice_dir": [0, s2, s2]} for i in range(3)]}
    vox = (1.5, 2.0, 3.0)
    aff = geometry_affine(geometry, vol.shape, vox)
    nii = nib.load(save_nifti(tmp_path / "v.nii.gz", vol, vox, affine=aff))
    _, dss = read_dicom_series(write_dicom_series(tmp_path / "d", vol, pixel_spacing=vox[:2], slice_thickness=vox[2],
                                                  geometry=geometry))
    data = nii.get_fdata()
    for (r, c, k) in [(0, 0, 0), (9, 7, 2), (4, 3, 1)]:
        i, j = c, vol.shape[1] - 1 - r
        assert data[i, j, k] == pytest.approx(vol[k, r, c], rel=1e-6)  # the same voxel
        ras = nii.affine @ [i, j, k, 1]
        ds = dss[k]
        o = [float(v) for v in ds.ImageOrientationPatient]
        lps = (np.array([float(v) for v in ds.ImagePositionPatient]) + c * vox[1] * np.array(o[:3])
               + r * vox[0] * np.array(o[3:]))
        np.testing.assert_allclose(ras[:3], lps * [-1, -1, 1], atol=1e-4)
