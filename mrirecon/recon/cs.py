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


def l1_wavelet_solve(physics, y: torch.Tensor, lamda, scale: torch.Tensor, *, reference: torch.Tensor | None = None,
                     mu=None, max_iter: int = 100, wave_name: str = "db4", seeds=None) -> torch.Tensor:
    """argmin_x ½‖Ax − y‖² + λ‖Ψx‖₁ (+ μ/2 ‖x − r‖² with a ``reference`` r) per item, at ``y``'s scale.

    ``y`` and ``reference`` are divided by ``scale`` ``(batch,)`` before the solve (λ is relative to it) and
    the result multiplied back. Without a reference this is sigpy's ``L1WaveletRecon``; with one it is
    sigpy's ``LinearLeastSquares`` with the same operator and wavelet prox and the quadratic pull
    ``lamda=μ`` towards ``z=r`` (μ 0: plain CS, identical to no reference). ``lamda`` and ``mu``: one value
    or one per item. ``seeds`` (one per item) seed sigpy's power iteration, which draws from numpy's global
    state (restored afterwards); default: the item's index."""
    import sigpy as sp
    import sigpy.mri as mr

    n = y.shape[0]
    lams = torch.as_tensor(lamda, dtype=torch.float64).reshape(-1).expand(n).tolist()
    mus = torch.as_tensor(0.0 if mu is None else mu, dtype=torch.float64).reshape(-1).expand(n).tolist()
    out = []
    for b in range(n):
        maps, mask = physics.sense_parts(b)
        ksp = (y[b] / scale[b]).cpu().numpy().reshape(maps.shape)
        state = np.random.get_state()
        np.random.seed(int(seeds[b] if seeds is not None else b) % 2 ** 32)
        try:
            if reference is None or mus[b] == 0.0:
                x = mr.app.L1WaveletRecon(ksp, maps, lams[b], weights=mask, wave_name=wave_name, max_iter=max_iter,
                                          show_pbar=False).run()
            else:
                A = mr.linop.Sense(maps, weights=mask)
                W = sp.linop.Wavelet(A.ishape, wave_name=wave_name)
                proxg = sp.prox.UnitaryTransform(sp.prox.L1Reg(W.oshape, lams[b]), W)
                z = (reference[b] / scale[b]).cpu().numpy().astype(np.complex64)
                x = sp.app.LinearLeastSquares(A, ksp * mask ** 0.5, z=z, lamda=mus[b], proxg=proxg, max_iter=max_iter,
                                              show_pbar=False).run()
        finally:
            np.random.set_state(state)
        out.append(torch.from_numpy(np.asarray(x)).to(torch.complex64) * scale[b].cpu())
    return torch.stack(out).to(y.device)


@register("cs", CSOptions, summary="L1-wavelet compressed sensing (sigpy)")
def solve(physics, y: torch.Tensor, prior=None, *, init=None, options: CSOptions | None = None,
          generator=None, callback=None) -> Result:
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
    # sigpy's power iteration is seeded from each item's generator, so the result depends neither on the run
    # nor on the batch the slice is solved in
    seeds = [(gens[b].initial_seed() if isinstance(gens, list) else b) for b in range(y.shape[0])]
    out = []
    for b in range(y.shape[0]):
        sub = physics.select([b])
        out.append(l1_wavelet_solve(sub, y[b:b + 1], lam[b], scale[b:b + 1], max_iter=o.max_iter, wave_name=o.wave_name,
                                    seeds=seeds[b:b + 1])[0])
        if callback is not None:
            callback(b, None, out[-1], None)
    return Result(image=torch.stack(out).to(y.device), info={"lamda": [float(v) for v in lam]})
