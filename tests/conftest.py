import numpy as np
import pytest
import torch

torch.set_num_threads(1)


def phantom(n: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth head-like magnitude phantom (ellipses), values in [0, 1]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-1:1:complex(n), -1:1:complex(n)]
    img = np.zeros((n, n), np.float32)
    img[(xx / 0.8) ** 2 + (yy / 0.9) ** 2 < 1] = 0.6
    img[(xx / 0.7) ** 2 + (yy / 0.8) ** 2 < 1] = 0.3
    for _ in range(6):
        cx, cy, r = rng.uniform(-0.4, 0.4), rng.uniform(-0.5, 0.5), rng.uniform(0.05, 0.2)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2] = rng.uniform(0.4, 1.0)
    return img


@pytest.fixture
def phantoms():
    return np.stack([phantom(64, s) for s in range(4)])


@pytest.fixture
def sim_files(tmp_path, phantoms):
    from mrirecon.data.synth import SimConfig, write_simulated

    single = write_simulated(tmp_path / "single.h5", phantoms[:3], SimConfig(coils=1, snr_db=40))
    multi = write_simulated(tmp_path / "multi.h5", phantoms[:3], SimConfig(coils=4, snr_db=40, readout_oversampling=2))
    return single, multi
