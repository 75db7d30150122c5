"""Compressed sensing: L1-wavelet regularised least squares with ``sigpy.mri.app.L1WaveletRecon``.

``lamda`` is relative to the measurement's scale (y is normalised by the peak of ``A^H y`` before
the solve and rescaled after), so one value works across files. sigpy estimates its step size with a
power iteration started from numpy's global random state: it is seeded here (and the global state
restored), so CS is identical run to run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from mrirecon.diffusion.schedule import sample_generators
from mrirecon.recon.common import measurement_scale
from mrirecon.recon.options import Options, opt
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result


@dataclasses.dataclass
class CSOptions(Options):
    lamda: float | str = opt("auto", "L1-wavelet weight relative to the measurement's scale, or auto: "
                             "kappa * sigma_n from the data's noise level (recon.weights)", choices=("auto",), min=0.0,
                             min_open=True)
    max_iter: int = opt(100, "iterations of sigpy's L1WaveletRecon", min=1)
    wave_name: str = opt("db4", "wavelet (pywt name)")


@register("cs", CSOptions, summary="L1-wavelet compressed sensing (sigpy)")
def solve(physics, y: torch.Tensor, prior=None, *, init=None, options: CSOptions | None = None,
          generator=None, callback=None) -> Result:
    import sigpy.mri.app as app

    o = options or CSOptions()
    scale = measurement_scale(physics, y)
    gens = sample_generators(generator, y.shape[0], 1, y.device)
    lam = [o.lamda] * y.shape[0]
    if o.lamda == "auto":
        from mrirecon.recon.weights import cs_lambda, normalised_sigma

        sig = normalised_sigma(physics, y, scale)
        if sig is None:
            raise ValueError("lamda='auto' needs the noise level, which this operator cannot estimate; give a number")
        lam = cs_lambda(sig).tolist()
    out = []
    for b in range(y.shape[0]):
        maps, mask = physics.sense_parts(b)
        yb = (y[b] / scale[b]).cpu().numpy()
        ksp = yb.reshape(maps.shape)
        state = np.random.get_state()
        # sigpy's power iteration draws from the global state: seed it from this item's generator, so
        # the result depends neither on the run nor on the batch the slice is solved in
        np.random.seed((gens[b].initial_seed() if isinstance(gens, list) else b) % 2 ** 32)
        try:
            x = app.L1WaveletRecon(ksp, maps, float(lam[b]), weights=mask, wave_name=o.wave_name, max_iter=o.max_iter,
                                   show_pbar=False).run()
        finally:
            np.random.set_state(state)
        out.append(torch.from_numpy(np.asarray(x)).to(torch.complex64) * scale[b].cpu())
        if callback is not None:
            callback(b, None, out[-1], None)
    return Result(image=torch.stack(out).to(y.device), info={"lamda": [float(v) for v in lam]})
