"""Data-fidelity weights derived from the data, in one place (the "one documented rule").

All solvers work on measurements divided by ``scale`` = the peak of ``A^H y`` (the networks' scale);
the noise σ of the measurement (``physics.noise_sigma``, set by the engine from a noise scan or
estimated from the k-space, else ``physics.estimate_noise(y)``) becomes ``σ_n = σ / scale`` there.

* CS: ``λ = κ_CS · σ_n`` (``κ_CS`` below): the L1-wavelet threshold follows the noise level.
* U-Net CG data consistency (MAP with Gaussian noise and a Gaussian error model of the network):
  ``μ = σ_n² / ε₀`` with ε₀ the network's validation error per pixel (stored with its weights).
* CCDF / diffusion proximal consistency at step t (the half-quadratic-splitting weight of DiffPIR,
  Zhu et al. 2023): ``μ_t = λ · σ_n² / σ̄_t²`` with σ̄_t² = (1−ᾱ_t)/ᾱ_t the prior's noise level at t.
* RED-diff's data term: ``obs_weight = (σ_ref / σ_n)²`` — a data term ∝ 1/σ² as in the paper's
  ‖y − Aμ‖²/(2σ_v²), anchored at σ_ref, the noise level of the validation data its λ = 0.25 was
  chosen on (the demo's σ_n ≈ 0.019).
Explicit numeric options override these rules.
"""

from __future__ import annotations

import torch

#: CS: λ per unit of normalised noise σ_n, calibrated on one cell — the bundled demo file (8 coils,
#: 30 dB, R=4: best grid λ 0.003 at σ_n ≈ 0.019) — and checked on every other cell of the robustness
#: benchmark (docs/benchmarks.md, "Adaptive weights"). (The universal threshold σ_n·√(ln N) ≈ 3 σ_n is
#: far too strong here: undersampling artefacts, not noise, dominate what the wavelet term removes.)
KAPPA_CS = 0.15
MU_FLOOR, MU_CEIL = 1e-6, 1e3


def noise_level(physics, y: torch.Tensor) -> torch.Tensor | None:
    """Per-item σ of ``y`` (``(batch,)``): the operator's ``noise_sigma`` if set, else its estimate
    (``LinearOp.noise_level``)."""
    return physics.noise_level(y)


def normalised_sigma(physics, y: torch.Tensor, scale: torch.Tensor) -> torch.Tensor | None:
    s = noise_level(physics, y)
    return None if s is None else s / scale.to(s.device)


def cs_lambda(sigma_n: torch.Tensor) -> torch.Tensor:
    return (KAPPA_CS * sigma_n).clamp_min(1e-7)


def unet_dc_mu(sigma_n: torch.Tensor, eps0: float) -> torch.Tensor:
    return (sigma_n ** 2 / max(float(eps0), 1e-8)).clamp(MU_FLOOR, MU_CEIL)


def prox_mu_at(sigma_n: torch.Tensor, schedule, t: int, lam: float = 1.0) -> torch.Tensor:
    sbar2 = float(schedule.sigma_over_alpha(t)) ** 2
    return (lam * sigma_n ** 2 / max(sbar2, 1e-12)).clamp(MU_FLOOR, MU_CEIL)


#: RED-diff: σ_n of the data on which its default λ was chosen (the demo / validation files, 30 dB).
SIGMA_REF_RED_DIFF = 0.019


def red_diff_obs_weight(sigma_n: torch.Tensor) -> torch.Tensor:
    return ((SIGMA_REF_RED_DIFF / sigma_n.clamp_min(1e-8)) ** 2).clamp(1e-3, 1e3)
