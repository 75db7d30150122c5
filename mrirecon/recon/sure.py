"""GSURE: an unbiased estimate of a reconstruction's image error from the measurement alone.

For ``y = A x + n`` with white complex Gaussian noise (``E|n_k|² = σ²`` on the sampled entries) and an
operator of full column rank (multi-coil data with at least as many measurements as unknowns), Eldar's
generalised SURE (IEEE TSP 2009) gives, for any weakly differentiable reconstruction ``h(y)``,

    E‖h(y) − x‖² = E[ ‖h‖² − 2 Re⟨h, x_ML⟩ + σ² · div ] + ‖x‖²,

with ``x_ML = (AᴴA)⁻¹ Aᴴ y`` (the least-squares image) and ``div = Σ_k ∂ Re⟨h, B e_k⟩ / ∂n_k`` over the
real components of the noise (``B = (AᴴA)⁻¹ Aᴴ``). The divergence is estimated by one Monte-Carlo probe
(Ramani, Blu & Unser, IEEE TIP 2008): ``div ≈ Re⟨(h(y + εb) − h(y)) / ε, B b⟩`` with ``b`` of
unit-variance real components on the sampled entries. ``‖x‖²`` does not depend on ``h``, so the estimate
ranks reconstructions of the same data — e.g. CS's λ over a grid (``cs --lamda sure``) — by their
expected squared image error, without the truth and without holding data out.

Only with full column rank is the estimate about the whole image: single-coil undersampled data (and
multi-coil data with fewer measurements than unknowns) only estimate the error inside the range of Aᴴ,
i.e. on the sampled k-space, which always favours the least regularisation; ``applicable`` asks for 1.5
measurements per unknown, which also gives the noise level from the least-squares residual. Noise must be white and equal across coils (mrirecon does not prewhiten correlated coils).

Two limits, measured on the robustness matrix (docs/benchmarks.md, round 18): where noise dominates x_ML
(random masks at low SNR) the estimate's variance swamps the differences it should rank (``GSURE.reliable``
then says no), and where the coil maps do not explain the data (ESPIRiT from few calibration lines) the
estimate measures the error against the model's projection of the truth, x + (AᴴA)⁻¹Aᴴe, which the map error
e, amplified by poor conditioning, pulls towards the data.
"""

from __future__ import annotations

import itertools
import math

import torch

#: the probe's step ε, in units of the noise σ. The finite difference is a secant, not the derivative: across a
#: step of 0.5σ soft thresholds bend, and the divergence came out 18–42 % too high on a test with a known one (0.1σ:
#: within 1 %); on the robustness matrix GSURE then preferred λ up to 2× too large (40 dB, R=4: the risk difference
#: of 2× against 1× estimated at −0.08, truth +0.03; from 0.02σ to 0.1σ about +0.015) (docs/benchmarks.md, round 20)
EPS_REL = 0.1
#: conjugate-gradient iterations / relative tolerance of the least-squares solves (x_ML and B b)
LS_ITERS, LS_TOL = 200, 1e-7


def applicable(physics, n: int) -> list[bool]:
    """Per item of a batch of ``n``: multi-coil with at least ``RESIDUAL_MIN_RATIO`` sampled values per unknown
    (pixel inside the coil maps' support). AᴴA is then invertible, and the least-squares residual gives the
    noise level GSURE needs (``residual_sigma``) instead of one it cannot check: near M = N (2 coils at R=2,
    8 coils at R=8) x_ML is mostly amplified noise, and an underestimated σ makes the least regularisation
    look best (the Siemens phantom at R=2: λ 30× too small, 10 dB)."""
    out = []
    for i in range(n):
        m, u = _counts(physics, i)
        out.append(physics.num_coils > 1 and m >= RESIDUAL_MIN_RATIO * u)
    return out


def _counts(physics, i: int) -> tuple[float, float]:
    """Item ``i``'s sampled values M (over coils) and unknowns N (pixels inside the coil maps' support)."""
    maps, mask = physics.sense_parts(i)
    return float((mask != 0).sum()) * maps.shape[0], float(((abs(maps) ** 2).sum(0) > 1e-6).sum())


#: GSURE is only as informative as x_ML: ``GSURE.reliable`` where noise makes up at most this fraction of
#: x_ML's energy (more signal than noise). Where parallel imaging amplifies the noise (random masks, low SNR)
#: x_ML is mostly noise, and the estimate's variance swamps the differences it should rank.
NOISE_FRACTION_MAX = 0.5
#: residual_sigma needs at least this many sampled values per unknown (M ≥ 1.5 N: ≥ N/2 degrees of freedom)
RESIDUAL_MIN_RATIO = 1.5
#: GSURE is unbiased only if the model explains the data. Where the coil maps leave part of the signal unexplained
#: (ESPIRiT from the 5 calibration lines of R=8 with localised coils), GSURE measures the error against
#: x + (AᴴA)⁻¹Aᴴe, which that error e pulls towards the data, and it ranks wrongly. Two checks, both needed:
#: the least-squares residual's σ exceeds the given noise level (the k-space estimate, ``physics.noise``) by more
#: than MISFIT_MAX (on the robustness matrix, where that estimate is right: 0.98–1.07 at R=4 equispaced, 1.00–1.11
#: at R=4 random, up to 1.95 at R=8 with 15 coils; the estimate errs upwards at high SNR, which keeps the check
#: quiet), and the misfit's share of x_ML's energy, amplified as the noise is, (σ_residual² − σ²) × x_ML's
#: noise energy per unit variance / ‖x_ML‖², exceeds MISFIT_SHARE_MAX. On the matrix the R=8 slices at
#: 40–50 dB that pass the noise check with a ratio above 1.1 have 1.16–1.95 and shares 0.04–0.24; R=4
#: slices at 50 dB have ratios 1.10–1.12 but shares under 0.01, and there GSURE still ranked better than
#: held-out k-space (docs/benchmarks.md, round 22)
MISFIT_MAX = 1.1
MISFIT_SHARE_MAX = 0.02


def residual_sigma(physics, y: torch.Tensor, x_ml: torch.Tensor) -> torch.Tensor:
    """Per item, the noise level from the least-squares residual, σ² = ‖A x_ML − y‖² / (M − N) (M sampled
    values, N unknowns: the pixels inside the coil maps' support); NaN with fewer than
    ``RESIDUAL_MIN_RATIO`` × N values. Coil-map or model error only adds to the residual, so this is an upper
    bound like the k-space estimate (``physics.noise``), whose own bias, signal leaking into the k-space
    corners and background rows, is largest at high SNR, where the residual's is smallest."""
    res = (physics.forward(x_ml) - y).abs().pow(2).reshape(y.shape[0], -1).sum(1)
    out = []
    for i in range(y.shape[0]):
        m, n = _counts(physics, i)
        out.append(float("nan") if m < RESIDUAL_MIN_RATIO * n else (float(res[i]) / (m - n)) ** 0.5)
    return torch.tensor(out, dtype=torch.float32)


class GSURE:
    """The risk estimator for one batch of measurements ``y`` with per-item noise ``sigma`` ``(batch,)``
    (at ``y``'s scale). With ``use_residual`` (and enough measurements) ``residual_sigma`` replaces it: the
    level of what the model leaves unexplained, thermal noise plus coil-map error, which GSURE has to treat
    as noise; the k-space estimate also errs upwards at high SNR, where signal reaches its corners.
    ``y_perturbed`` is the probe measurement to reconstruct a second time with the same settings; ``reliable``
    says per item whether x_ML carries more signal than noise (``NOISE_FRACTION_MAX``) and the model explains
    the data (``model_fits``: ``MISFIT_MAX``, ``MISFIT_SHARE_MAX``), ``why_unreliable(i)`` says which failed;
    ``risk(h, h_perturbed)`` is the per-item estimate of ``‖h − x‖² − ‖x‖²``."""

    def __init__(self, physics, y: torch.Tensor, sigma: torch.Tensor, *, seed: int = 0, eps_rel: float = EPS_REL,
                 use_residual: bool = True):
        b = y.shape[0]
        self.sigma = torch.as_tensor(sigma, dtype=torch.float32).reshape(-1).expand(b).to(y.device)
        if not bool((self.sigma > 0).all()):
            raise ValueError("GSURE needs a positive noise level for every item")
        g = torch.Generator().manual_seed(int(seed))
        probe = torch.complex(torch.randn(y.shape, generator=g), torch.randn(y.shape, generator=g)).to(y.device)
        m = torch.stack([physics.item_mask(i).to(y.device) != 0 for i in range(b)])
        self.probe = probe * (m[:, None] if y.dim() == 4 else m)
        zero = torch.zeros_like(physics.adjoint(y))
        self.x_ml = physics.cg_solve(y, zero, 0.0, iters=LS_ITERS, tol=LS_TOL)
        self.b_probe = physics.cg_solve(self.probe, zero, 0.0, iters=LS_ITERS, tol=LS_TOL)
        self.sigma_residual = residual_sigma(physics, y, self.x_ml).to(self.sigma.device)
        given = self.sigma
        #: per item, the residual's σ over the given one (NaN where the residual cannot be formed)
        self.misfit = (self.sigma_residual / given).float()
        if use_residual:
            self.sigma = torch.where(torch.isnan(self.sigma_residual), self.sigma, self.sigma_residual)
        self.eps = eps_rel * self.sigma
        # E‖B b‖² = 2 tr((AᴴA)⁻¹): noise of variance s² puts s²‖B b‖²/2 into x_ML's energy (one probe)
        per_var = (self.b_probe.abs().pow(2).reshape(b, -1).sum(1) / 2
                   / self.x_ml.abs().pow(2).reshape(b, -1).sum(1).clamp_min(1e-30))
        self.noise_fraction = (self.sigma ** 2 * per_var).float()
        #: per item, the share of x_ML's energy due to what the model leaves unexplained, the residual's variance
        #: beyond the given noise's amplified as noise is (0 without a misfit or without a residual)
        self.misfit_share = torch.nan_to_num((self.sigma_residual ** 2 - given ** 2).clamp_min(0) * per_var).float()
        self.model_fits = ~((self.misfit > MISFIT_MAX) & (self.misfit_share > MISFIT_SHARE_MAX))
        self.reliable = (self.noise_fraction <= NOISE_FRACTION_MAX) & self.model_fits
        self.y_perturbed = y + self.eps.reshape(-1, *([1] * (y.dim() - 1))) * self.probe

    def why_unreliable(self, i: int = 0) -> str | None:
        """Why item ``i`` cannot be ranked (None: it can)."""
        reasons = []
        if not float(self.noise_fraction[i]) <= NOISE_FRACTION_MAX:
            reasons.append(f"noise is {float(self.noise_fraction[i]):.2f} of the least-squares image")
        if not bool(self.model_fits[i]):
            reasons.append(f"the model leaves a residual {float(self.misfit[i]):.2f}x the noise level, "
                           f"{float(self.misfit_share[i]):.2f} of the least-squares image (coil maps)")
        return "; ".join(reasons) or None

    def divergence(self, h: torch.Tensor, h_perturbed: torch.Tensor) -> torch.Tensor:
        """Per item, the one-probe estimate of the reconstruction's divergence (see the module's docstring)."""
        jac = _flat((h_perturbed - h) / self.eps.reshape(-1, *([1] * (h.dim() - 1))))
        return (jac.conj() * _flat(self.b_probe)).sum(1).real

    def risk(self, h: torch.Tensor, h_perturbed: torch.Tensor) -> torch.Tensor:
        hf, xf = _flat(h), _flat(self.x_ml)
        fit = (hf.abs() ** 2).sum(1) - 2 * (hf.conj() * xf).sum(1).real
        return (fit + self.sigma ** 2 * self.divergence(h, h_perturbed)).float()

    def combine(self, images: list, perturbed: list) -> tuple[torch.Tensor, list[float], float]:
        """For ONE item (batch 1): the convex combination Σ w_k h_k of candidate reconstructions of least risk.
        The risk of a combination is quadratic in the weights — ‖Σ w_k h_k‖² − 2 Re⟨Σ w_k h_k, x_ML⟩ + σ² Σ w_k
        div_k, the divergence being linear — so it is minimised exactly over the simplex (every face's
        equality-constrained minimum, kept where all its weights are ≥ 0; at most a handful of candidates).
        With the same probe for every candidate the combination's divergence is that of the weights applied to
        the perturbed reconstructions. Returns (the image, the weights, its risk); a vertex gives that
        candidate's own ``risk``."""
        k = len(images)
        if k == 0 or k != len(perturbed):
            raise ValueError("combine needs one perturbed reconstruction per candidate")
        hs = torch.stack([_flat(h)[0] for h in images]).to(torch.complex128)
        # the k × k problem is solved on the CPU, whatever device the images are on
        gram = (hs.conj() @ hs.T).real.cpu()
        lin = (hs.conj() @ _flat(self.x_ml)[0].to(torch.complex128)).real.cpu()
        div = torch.stack([self.divergence(h, hp)[0] for h, hp in zip(images, perturbed)]).double().cpu()
        q = lin - float(self.sigma[0]) ** 2 * div / 2
        best_w, best_r = None, math.inf
        for size in range(1, k + 1):
            for face in itertools.combinations(range(k), size):
                idx = list(face)
                if size == 1:  # a vertex: the candidate itself
                    wf = torch.ones(1, dtype=torch.float64)
                else:  # minimise wᵀGw − 2qᵀw subject to Σw = 1: [2G 1; 1ᵀ 0][w; ν] = [2q; 1]
                    g = gram[idx][:, idx]
                    kkt = torch.zeros(size + 1, size + 1, dtype=torch.float64)
                    kkt[:size, :size] = 2 * g + 1e-12 * torch.trace(g) * torch.eye(size, dtype=torch.float64)
                    kkt[:size, size] = 1
                    kkt[size, :size] = 1
                    try:
                        wf = torch.linalg.solve(kkt, torch.cat([2 * q[idx], torch.ones(1, dtype=torch.float64)]))[:size]
                    except RuntimeError:  # singular: identical candidates; a smaller face covers it
                        continue
                    if bool((wf < 0).any()):
                        continue
                w = torch.zeros(k, dtype=torch.float64)
                w[idx] = wf
                r = float(w @ gram @ w - 2 * w @ q)
                if r < best_r:
                    best_w, best_r = w, r
        if best_w is None:  # every risk NaN: a candidate is not finite
            raise ValueError("combine: the candidates' risks are not finite")
        image = sum(float(w) * h for w, h in zip(best_w, images))
        return image, [float(w) for w in best_w], best_r


def _flat(v: torch.Tensor) -> torch.Tensor:
    return v.reshape(v.shape[0], -1)


def choose(values: list, reconstruct, y: torch.Tensor, estimator: GSURE, refine=None, perturbed: list | None = None):
    """Minimise the risk over candidate settings for ONE item (``y`` of batch 1): ``reconstruct(value, y)``
    reconstructs with a setting; ``values`` is the coarse grid, ``refine(best_value)`` (optional) more
    values to try around the coarse minimum — or a sequence of such functions, each applied in turn around the
    minimum so far. Returns (the chosen value, its image, the values tried, their risks); a list given as
    ``perturbed`` receives the chosen value's reconstruction of the probe measurement."""
    tried, risks, images = [], [], []

    def trial(v):
        h = reconstruct(v, y)
        hp = reconstruct(v, estimator.y_perturbed)
        tried.append(v)
        risks.append(float(estimator.risk(h, hp)[0]))
        images.append((h, hp))

    for v in values:
        trial(v)
    stages = [] if refine is None else ([refine] if callable(refine) else list(refine))
    for stage in stages:
        best = tried[min(range(len(risks)), key=risks.__getitem__)]
        for v in stage(best):
            if v not in tried:
                trial(v)
    k = min(range(len(risks)), key=risks.__getitem__)
    if perturbed is not None:
        perturbed.append(images[k][1])
    return tried[k], images[k][0], tried, risks
