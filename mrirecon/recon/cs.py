"""Compressed sensing: L1-wavelet regularised least squares with ``sigpy.mri.app.L1WaveletRecon``.

``lamda`` is relative to the measurement's scale (y is normalised by the zero-filled image's peak
before the solve and rescaled after), so one value works across files.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from mrirecon.physics.operators import MultiCoilMRI, SingleCoilMRI
from mrirecon.recon.common import measurement_scale


@dataclasses.dataclass
class CSOptions:
    lamda: float = 0.001
    max_iter: int = 100
    wave_name: str = "db4"


def solve(physics, y: torch.Tensor, prior=None, *, options: CSOptions | None = None, progress=None, **_) -> torch.Tensor:
    import sigpy.mri.app as app

    opt = options or CSOptions()
    if not isinstance(physics, (SingleCoilMRI, MultiCoilMRI)):
        raise TypeError(f"CS supports SingleCoilMRI and MultiCoilMRI, not {type(physics).__name__}")
    scale = measurement_scale(physics, y)
    out = []
    for b in range(y.shape[0]):
        yb = (y[b] / scale[b]).cpu().numpy()
        if isinstance(physics, SingleCoilMRI):
            ksp = yb[None]
            mps = np.ones_like(ksp)
            mask = physics.mask[b if physics.mask.shape[0] > 1 else 0].cpu().numpy()
        else:
            ksp = yb
            mps = physics.maps[b].cpu().numpy()
            mask = physics.mask[b if physics.mask.shape[0] > 1 else 0, 0].cpu().numpy()
        x = app.L1WaveletRecon(ksp, mps, opt.lamda, weights=mask, wave_name=opt.wave_name, max_iter=opt.max_iter,
                               show_pbar=False).run()
        out.append(torch.from_numpy(np.asarray(x)).to(torch.complex64) * scale[b].cpu())
        if progress:
            progress(1)
    return torch.stack(out).to(y.device)
