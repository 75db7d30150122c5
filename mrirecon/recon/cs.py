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
from mrirecon.recon import sure
from mrirecon.recon.common import measurement_scale
from mrirecon.recon.options import Options, opt
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result


@dataclasses.dataclass
class CSOptions(Options):
    lamda: float | str = opt("auto", "L1-wavelet weight relative to the measurement's scale; auto: kappa * sigma_n "
                             "from the data's noise level (recon.weights); sure: the lamda of least estimated image "
                             "error (GSURE, recon.sure) among kappa * sigma_n x 4^-2..4^2, refined by 2x and sqrt(2), on multi-coil "
                             "data with at least 1.5 sampled values per pixel (else auto; 18 solves per slice)",
                             choices=("auto", "sure"), min=0.0, min_open=True)
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
    info: dict = {}
    if o.lamda in ("auto", "sure"):
        from mrirecon.recon.weights import cs_lambda, normalised_sigma

        sig = normalised_sigma(physics, y, scale)
        if sig is None:
            raise ValueError(f"lamda={o.lamda!r} needs the noise level, which this operator cannot estimate; give a number")
        lam = cs_lambda(sig).tolist()
    # sigpy's power iteration is seeded from each item's generator, so the result depends neither on the run
    # nor on the batch the slice is solved in
    seeds = [(gens[b].initial_seed() if isinstance(gens, list) else b) for b in range(y.shape[0])]
    sure_ok = sure.applicable(physics, y.shape[0]) if o.lamda == "sure" else [False] * y.shape[0]
    if o.lamda == "sure":
        info["lamda_rule"] = ["sure" if ok else "auto (GSURE needs multi-coil data with >= 1.5 sampled values per pixel)"
                              for ok in sure_ok]
    out = []
    for b in range(y.shape[0]):
        sub = physics.select([b])
        solve_b = lambda lam_b, yb: l1_wavelet_solve(sub, yb, lam_b, scale[b:b + 1], max_iter=o.max_iter,  # noqa: E731
                                                     wave_name=o.wave_name, seeds=seeds[b:b + 1])
        est = sure.GSURE(sub, y[b:b + 1], sig[b] * scale[b], seed=seeds[b]) if sure_ok[b] else None
        if est is not None and not bool(est.reliable[0]):  # x_ML mostly noise or the model misfits: auto stays
            info["lamda_rule"][b] = f"auto (GSURE unreliable: {est.why_unreliable(0)})"
            est = None
        if est is not None:
            lam[b], x, tried, risks = sure_lamda(est, y[b:b + 1], lam[b], solve_b)
            info.setdefault("sure", {})[b] = {"lamda": [float(v) for v in tried], "risk": risks}
            out.append(x[0])
        else:
            out.append(solve_b(lam[b], y[b:b + 1])[0])
        if callback is not None:
            callback(b, None, out[-1], None)
    return Result(image=torch.stack(out).to(y.device), info={"lamda": [float(v) for v in lam], **info})


#: lamda=sure: the coarse grid, in units of kappa * sigma_n (recon.weights), refined by 2x around its minimum and
#: then by sqrt(2) around the new one (a bisection in log lamda: the choice is within 2^(1/4) of the grid's best)
SURE_FACTORS = (1 / 16, 1 / 4, 1.0, 4.0, 16.0)
SURE_REFINE = (2.0, 2.0 ** 0.5)


def sure_lamda(est: "sure.GSURE", y: torch.Tensor, lam_auto: float, solve_one, perturbed: list | None = None):
    """One item ``y`` with its GSURE estimator ``est``: the λ of least risk among ``lam_auto`` × ``SURE_FACTORS``,
    then ×½ and ×2 around the best, then ×1/√2 and ×√2 around the best so far (9 λ). ``solve_one(lamda, y)`` is the L1-wavelet solve (CS, or CS around a
    reference: the U-Net's ``dc_l1="sure"``). Returns (λ, image, tried λ, risks); ``perturbed`` as in
    ``sure.choose``."""
    return sure.choose([lam_auto * f for f in SURE_FACTORS], solve_one, y, est,
                       refine=[lambda v, r=r: (v / r, v * r) for r in SURE_REFINE], perturbed=perturbed)
