import h5py
import numpy as np
import pytest
import torch

from mrirecon.io import FastMRIFile, FastMRIFileError, load_nifti, parse_header, save_nifti, write_reconstruction
from mrirecon.io.fastmri import make_header, write_fastmri_file


def test_read_simulated(sim_files):
    single, multi = sim_files
    f = FastMRIFile(single)
    assert f.num_slices == 3 and not f.multicoil and f.kspace_shape == (3, 64, 64)
    s = f[1]
    assert s.kspace.dtype == torch.complex64 and s.kspace.shape == (64, 64)
    assert s.target.shape == (64, 64) and f.target_key == "reconstruction_esc"
    assert f.attrs["acquisition"] and "max" in f.attrs and "norm" in f.attrs
    g = FastMRIFile(multi)
    assert g.multicoil and g.num_coils == 4 and g.kspace_shape == (3, 4, 128, 64)
    assert g.header.encoding_size == (128, 64, 1) and g.header.recon_size == (64, 64, 1)
    assert g.recon_size == (64, 64)
    assert g.header.padding_left == 0 and g.header.padding_right == 64
    with pytest.raises(IndexError):
        g[5]


def test_header_padding_as_fastmri():
    xml = make_header((640, 372, 1), (320, 320, 1), (440, 220, 5), (220, 220, 5), center=180, maximum=355)
    h = parse_header(xml)
    assert h.padding_left == 372 // 2 - 180
    assert h.padding_right == h.padding_left + 356
    assert h.voxel_size_mm() == pytest.approx((220 / 320, 220 / 320, 5.0))


def test_header_matches_fastmri_slicedataset(sim_files, tmp_path):
    fm = pytest.importorskip("fastmri.data.mri_data")
    single, multi = sim_files
    for path, challenge in [(single, "singlecoil"), (multi, "multicoil")]:
        ds = fm.SliceDataset(root=path.parent, challenge=challenge, use_dataset_cache=False)
        ours = FastMRIFile(path)
        samples = [s for s in ds if s[4] == path.name]
        assert len(samples) == ours.num_slices
        kspace, mask, target, attrs, fname, i = samples[1]
        assert np.allclose(kspace, ours[1].kspace.numpy())
        assert np.allclose(target, ours[1].target.numpy())
        assert attrs["max"] == pytest.approx(ours.attrs["max"])
        assert attrs["padding_left"] == ours.header.padding_left
        assert attrs["padding_right"] == ours.header.padding_right
        assert tuple(attrs["recon_size"]) == ours.header.recon_size
        assert tuple(attrs["encoding_size"]) == ours.header.encoding_size
        assert attrs["max"] == pytest.approx(float(ours.volume_target().max()))
        path.with_suffix(".h5")  # noqa


def _write(path, **datasets):
    with h5py.File(path, "w") as hf:
        for k, v in datasets.items():
            hf.create_dataset(k, data=v)
    return path


def test_errors_name_file_and_problem(tmp_path, sim_files):
    with pytest.raises(FastMRIFileError, match="missing.h5: file not found"):
        FastMRIFile(tmp_path / "missing.h5")
    bad = tmp_path / "trunc.h5"
    bad.write_bytes(sim_files[0].read_bytes()[:2000])
    with pytest.raises(FastMRIFileError, match="trunc.h5: not a readable HDF5"):
        FastMRIFile(bad)
    with pytest.raises(FastMRIFileError, match="no 'kspace'"):
        FastMRIFile(_write(tmp_path / "nok.h5", other=np.zeros(3)))
    with pytest.raises(FastMRIFileError, match="rank 2"):
        FastMRIFile(_write(tmp_path / "rank.h5", kspace=np.zeros((4, 4), np.complex64)))
    with pytest.raises(FastMRIFileError, match="dtype"):
        FastMRIFile(_write(tmp_path / "dtype.h5", kspace=np.zeros((2, 4, 4), np.float32)))
    k = np.ones((2, 4, 4), np.complex64)
    k[1, 0, 0] = np.nan
    f = FastMRIFile(_write(tmp_path / "nan.h5", kspace=k))
    f[0]
    with pytest.raises(FastMRIFileError, match="nan.h5: kspace\\[1\\] contains NaN"):
        f[1]
    with pytest.raises(FastMRIFileError, match="mask of shape"):
        FastMRIFile(_write(tmp_path / "mask.h5", kspace=np.ones((2, 4, 4), np.complex64), mask=np.ones(5, bool)))
    with pytest.raises(FastMRIFileError, match="unreadable ismrmrd_header"):
        FastMRIFile(_write(tmp_path / "hdr.h5", kspace=np.ones((2, 4, 4), np.complex64), ismrmrd_header=b"<not xml"))


def test_input_never_modified(sim_files):
    before = sim_files[1].read_bytes()
    f = FastMRIFile(sim_files[1])
    for i in range(f.num_slices):
        f[i]
    assert sim_files[1].read_bytes() == before


def test_write_reconstruction_atomic(tmp_path):
    vol = np.random.rand(3, 8, 8).astype(np.float32)
    p = write_reconstruction(tmp_path / "r.h5", vol, mask=np.ones(8), acquisition="X")
    with h5py.File(p) as hf:
        assert hf["reconstruction"].dtype == np.float32 and np.allclose(hf["reconstruction"][()], vol)
        assert hf.attrs["acquisition"] == "X"
    with pytest.raises(ValueError):
        write_reconstruction(tmp_path / "bad.h5", vol[0])
    assert sorted(x.name for x in tmp_path.iterdir()) == ["r.h5"]  # no temp files left


def test_nifti_roundtrip(tmp_path):
    vol = np.random.rand(3, 10, 12).astype(np.float32)
    p = save_nifti(tmp_path / "v.nii.gz", vol, (0.5, 0.6, 4.0))
    back, vox, img = load_nifti(p)
    assert np.allclose(back, vol) and vox == pytest.approx((0.5, 0.6, 4.0))
