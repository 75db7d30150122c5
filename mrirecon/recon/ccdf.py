"""CCDF — Come-Closer-Diffuse-Faster (Chung, Sim & Ye, CVPR 2022).

Start from a good estimate x̃₀ (the U-Net by default; zero-filled, a tensor or any callable),
forward-diffuse it once to N′ = t0·T, x_{N′} = √ᾱ_{N′} x̃₀ + √(1−ᾱ_{N′}) z, and run only the last N′
reverse steps (or a strided DDIM subset, so NFE ≪ N′), each followed by the operator's
non-expansive data-consistency map. The same code serves MRI (k-space consistency) and
super-resolution (block-mean consistency with ``Downsample``): only the operator and the registered
defaults differ (``CCDFOptions`` / ``CCDFSROptions``).

``t0="auto"`` picks N′ from the initializer's validation error ε₀ (stored with the U-Net's weights,
or ``eps0``) and the schedule (``auto_t0``).
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.recon.common import INIT_CHOICES, initial_estimate
from mrirecon.recon.options import default_of, opt
from mrirecon.recon.registry import register
from mrirecon.recon.sampling import SamplerOptions, posterior_sample


def _t0(d):
    return opt(d, "fraction of the schedule to diffuse the estimate to, in (0, 1], or 'auto'", choices=("auto",),
               min=0.0, max=1.0, min_open=True)


def _steps(d):
    return opt(d, "reverse steps from t0 (a strided DDIM subset; none: every timestep)", min=1)


@dataclasses.dataclass
class CCDFOptions(SamplerOptions):
    # t0 0.07 / 20 steps: +0.27 dB over 0.1 / 10 on the 80-cell robustness matrix and +0.11 on its
    # T2-like cells (docs/benchmarks.md, round 11); 20 NFE
    t0: float | str = _t0(0.07)
    steps: int | None = _steps(20)
    dc_mode: str = default_of(SamplerOptions, "dc_mode", "prox")
    dc_weight: float | str = default_of(SamplerOptions, "dc_weight", "auto")
    diffpir_zeta: float | None = default_of(SamplerOptions, "diffpir_zeta", 1.0)
    # antithetic re-noising (z, -z, z', -z', ...): less sampling variance at the same 20 NFE; on the robustness
    # matrix and issue 21's peer cells it gains +0.3 ... +0.6 dB (docs/benchmarks.md, round 23)
    renoise: str = default_of(SamplerOptions, "renoise", "antithetic")
    init: str = opt("unet", "initial estimate when solve() gets none: unet (needs the network), zero-filled "
                    "(the operator's init; consistent bicubic for SR), zeros", choices=INIT_CHOICES)
    eps0: float | None = opt(None, "initializer's per-pixel squared error for t0=auto (default: from the U-Net's "
                             "weights)", min=0.0, min_open=True)
    auto_rho: float = opt(20.0, "t0=auto: injected noise variance over the initializer's error (calibrated)",
                          min=0.0, min_open=True)
    dc_noise: str = opt("cv", "noise level behind dc_weight=auto: cv (the k-space estimate rescaled by the U-Net's "
                        "k-space hold-out validation — up for coil-map or model error, down for an overestimate; "
                        "multi-coil data with the U-Net as init) or estimate (the k-space estimate alone)",
                        choices=("cv", "estimate"))
    init_passes: int = opt(1, "U-Net start: network passes (the unet method's passes; more than one starts from "
                              "its consistency-corrected estimate of the last pass)", min=1, max=8)


@dataclasses.dataclass
class CCDFSROptions(CCDFOptions):
    """CCDF for super-resolution: starts from the consistent bicubic image (``Downsample.init``)."""

    t0: float | str = _t0(0.2)
    steps: int | None = _steps(20)
    dc_mode: str = default_of(SamplerOptions, "dc_mode", "replace")
    dc_weight: float | str = default_of(SamplerOptions, "dc_weight", 1.0)
    # DiffPIR's update, as for MRI: with the prior of round 21 it beats DDIM's ancestral update in all 8 settings of
    # bench_sr_volume.py by 0.3-0.7 dB, and against the previous prior and update they gain 0.00 ... +1.08 dB, +0.61
    # on average (docs/benchmarks.md, round 21)
    diffpir_zeta: float | None = default_of(SamplerOptions, "diffpir_zeta", 1.0)
    # antithetic re-noising, as CCDF for MRI (inherited): +0.07 ... +0.44 dB in all 8 settings of bench_sr_volume.py
    # (docs/benchmarks.md, round 23)
    init: str = opt("zero-filled", "initial estimate when solve() gets none: zero-filled (consistent bicubic), zeros",
                    choices=INIT_CHOICES)


def auto_t0(schedule, eps0: float, rho: float = 20.0) -> float:
    """Smallest N′/T whose forward-diffusion noise covers the initializer's error.

    CCDF's Theorem 1 bounds the final error by λ^{2N′} ε̄_{N′} + 2Cτ/(1−λ²), with
    ε̄_{N′} = ᾱ_{N′} ε₀ + 2(1−ᾱ_{N′}) n: the reverse process contracts what it is given, but only the
    error it "sees" as noise. We take the first N′ at which the injected noise variance in x₀ units,
    σ²/α² = (1−ᾱ)/ᾱ, reaches ρ·ε₀ per real channel (ε₀ is the per-pixel squared error of the complex
    estimate, ε₀/2 per channel). ρ = 20 is calibrated on the single-coil R=4 validation curve (the
    error is structured, not white) and checked at R=8 (docs/benchmarks.md).
    """
    target = rho * eps0 / 2.0
    for n in range(1, schedule.T + 1):
        if float(schedule.sigma_over_alpha(n - 1)) ** 2 >= target:
            return n / schedule.T
    return 1.0


def initializer_error(meta: dict, physics) -> float | None:
    """ε₀ of the U-Net from its validation record: the entry for the acceleration nearest to the
    operator's (1 / sampled fraction), else the mean over accelerations."""
    per_r = {int(k[1:]): v for k, v in (meta.get("eps0") or {}).items() if k[:1] == "R" and k[1:].isdigit()}
    mask = getattr(physics, "mask", None)
    if per_r and mask is not None:
        r = 1.0 / float(mask.float().mean().clamp_min(1e-6))
        return per_r[min(per_r, key=lambda k: abs(k - r))]
    return meta.get("eps0_mean")


def resolve_t0(o: CCDFOptions, schedule, init, physics) -> float:
    if o.t0 != "auto":
        return float(o.t0)
    eps0 = o.eps0 if o.eps0 is not None else initializer_error(getattr(init, "meta", {}) or {}, physics)
    if eps0 is None:
        raise ValueError("t0='auto' needs the initializer's error eps0 (stored with the U-Net weights as "
                         "meta.eps0_mean, or the option eps0)")
    return auto_t0(schedule, float(eps0), o.auto_rho)


def _solve(physics, y, prior, init, o, generator, callback):
    info, x_init = {}, None
    if o.dc_noise == "cv" and o.dc_weight == "auto" and physics.num_coils > 1 and isinstance(init, torch.nn.Module):
        from mrirecon.recon.unet import is_sr_network, network_estimate, validated_noise

        if not is_sr_network(init):
            # the U-Net start (initial_estimate's estimate for a U-Net) and its input scale, shared with the check
            x_init, scale = network_estimate(physics, y, init, info=info)
            physics = validated_noise(physics, y, init, scale=scale)
            if physics.noise_sigma is not None:
                info["noise_sigma_validated"] = [float(v) for v in physics.noise_sigma.reshape(-1).expand(y.shape[0])]
    t0 = resolve_t0(o, prior.schedule, init, physics)
    if o.init_passes > 1 and isinstance(init, torch.nn.Module):
        from mrirecon.recon.unet import UNetOptions, is_sr_network, reconstruct

        if not is_sr_network(init):
            x_init = reconstruct(physics, y, init, UNetOptions(passes=o.init_passes), info)
    if x_init is None:
        x_init = initial_estimate(physics, y, o.init if init is None else init, "CCDF")
    return posterior_sample(physics, y, prior, x_init, t0, o, generator, callback, info=info)


@register("ccdf", CCDFOptions, networks=("prior", "unet"), summary="CCDF from the U-Net: diffuse to t0, few reverse steps")
def solve(physics, y: torch.Tensor, prior, *, init=None, options: CCDFOptions | None = None, generator=None,
          callback=None):
    """Complex ``Result`` (mean, samples and std when ``n_samples > 1``). ``init``: a tensor, the U-Net
    network, a callable ``(physics, y) -> image`` or None (``options.init``)."""
    return _solve(physics, y, prior, init, options or CCDFOptions(), generator, callback)


@register("ccdf", CCDFSROptions, task="sr", networks=("prior", "srnet"),
          summary="CCDF from the SR U-Net or the consistent bicubic image")
def solve_sr(physics, y: torch.Tensor, prior, *, init=None, options: CCDFSROptions | None = None, generator=None,
             callback=None):
    """CCDF with the super-resolution defaults (the same code as ``solve``)."""
    return _solve(physics, y, prior, init, options or CCDFSROptions(), generator, callback)


def nfe(schedule, t0: float, steps: int | None) -> int:
    return len(schedule.timesteps(schedule.start_index(t0), steps))
