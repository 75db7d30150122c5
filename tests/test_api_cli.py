"""One source of defaults: for every method, `solve()` with the registry's default options (and the
shipped networks) gives bit-for-bit the image `mrirecon reconstruct --method X` writes for the demo file."""
import h5py
import numpy as np
import pytest
import torch

from mrirecon.cli.main import main
from mrirecon.data.masks import RandomMaskFunc, mask_2d, seed_from_filename
from mrirecon.diffusion.prior import DiffusionPrior
from mrirecon.io import FastMRIFile
from mrirecon.models import load_model
from mrirecon.physics import MultiCoilMRI, center_crop
from mrirecon.physics.coils import estimate_maps
from mrirecon.recon import registry
from mrirecon.resources import demo_file, weights_dir

# full diffusion and DPS default to 1000 steps, RED-diff to 100: both sides get the same shorter run
# (every other option stays at its default)
SHORT = {"diffusion": {"steps": 3}, "dps": {"steps": 2}, "red-diff": {"steps": 10}}


@pytest.fixture(scope="module")
def problem():
    f = FastMRIFile(demo_file())
    k = f.read_kspace(slice(None))
    mask, _ = mask_2d(RandomMaskFunc([0.08], [4]), k.shape, seed=seed_from_filename(f.path))
    y = k * mask
    maps = torch.stack([estimate_maps(y[i], mask[0])[0] for i in range(len(y))])
    return f, MultiCoilMRI(mask, maps), y


@pytest.mark.parametrize("name", list(registry.methods("mri")))
def test_api_equals_cli(name, problem, tmp_path):
    f, A, y = problem
    m = registry.get(name)
    opts = SHORT.get(name, {})
    prior = init = None
    if "prior" in m.networks:
        prior = DiffusionPrior.load(weights_dir("prior"))
    if "unet" in m.networks:
        net = load_model(weights_dir("unet"))
        prior, init = (net, None) if name == "unet" else (prior, net)
    options = m.options(**opts) if opts else None  # None: the dataclass defaults
    api = center_crop(m.solve(A, y, prior, init=init, options=options).image.abs(), f.recon_size).numpy()
    flags = [x for k, v in opts.items() for x in (f"--{k}", str(v))]
    assert main(["reconstruct", str(demo_file()), str(tmp_path), "--method", name, "--accelerations", "4",
                 "--center-fractions", "0.08", *flags]) == 0
    with h5py.File(tmp_path / demo_file().name) as hf:
        cli = hf["reconstruction"][()]
    assert cli.dtype == api.dtype and np.array_equal(cli, api), name
