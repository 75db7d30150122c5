"""CCDF — Come-Closer-Diffuse-Faster (Chung, Sim & Ye, CVPR 2022).

Start from a good estimate x̃₀ (the U-Net by default; zero-filled, CS or any tensor), forward-diffuse
it once to N′ = t0·T, x_{N′} = √ᾱ_{N′} x̃₀ + √(1−ᾱ_{N′}) z, and run only the last N′ reverse steps
(or a strided DDIM subset of them, so NFE ≪ N′), each followed by the operator's non-expansive
data-consistency map. The same code serves MRI (k-space consistency) and super-resolution
(low-pass replacement with the ``Downsample`` operator).

``t0="auto"`` picks N′ from the initializer's validation error ε₀ (stored with its weights) and the
schedule (see ``auto_t0``).
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.recon.diffusion import run_from
from mrirecon.recon.sampling import SamplerOptions


@dataclasses.dataclass
class CCDFOptions(SamplerOptions):
    t0: float | str = 0.1
    n_samples: int = 1
    eps0: float | None = None  # initializer's per-pixel error at the networks' scale, for t0="auto"
    auto_rho: float = 20.0  # calibrated on validation (docs/benchmarks.md): structured error needs more noise


def auto_t0(schedule, eps0: float, rho: float = 20.0) -> float:
    """Smallest N′/T whose forward-diffusion noise covers the initializer's error.

    CCDF's Theorem 1 bounds the final error by λ^{2N′} ε̄_{N′} + 2Cτ/(1−λ²), with
    ε̄_{N′} = ᾱ_{N′} ε₀ + 2(1−ᾱ_{N′}) n: the reverse process contracts what it is given, but only
    the error it "sees" as noise. Theorem 2 (a better x̃₀ needs a smaller N′) is made concrete by
    choosing the first N′ at which the injected noise variance, expressed in x₀ units
    σ²/α² = (1−ᾱ)/ᾱ, reaches ρ·ε₀ per real channel (ε₀ is the per-pixel squared error of the
    complex estimate, i.e. ε₀/2 per channel): smaller ε₀ → smaller N′.

    With ρ = 1 the rule landed at t0 = 0.014 on single-coil R=4 validation, left of the measured
    PSNR peak (t0 ≈ 0.1): the initializer's error is structured (aliasing, blur), not white, and
    the reverse process needs noise well above its variance to remove it. ρ = 20 is calibrated on
    that curve and then checked at R=8 (docs/benchmarks.md).
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


def initial_estimate(physics, y, init, unet=None, generator=None) -> torch.Tensor:
    if torch.is_tensor(init):
        return init
    if init == "unet":
        if unet is None:
            raise ValueError("CCDF init='unet' needs a U-Net (pass unet=...)")
        from mrirecon.recon import unet as unet_solver

        return unet_solver.solve(physics, y, model=unet)
    if init == "zero-filled":
        return physics.init(y)
    if init == "cs":
        from mrirecon.recon import cs

        return cs.solve(physics, y)
    if init == "zeros":
        return torch.zeros_like(physics.init(y))
    raise ValueError(f"unknown CCDF init {init!r}: unet, zero-filled, cs, zeros or a tensor")


def solve(physics, y: torch.Tensor, prior, *, init="unet", unet=None, options: CCDFOptions | None = None,
          seed: int = 0, generator=None, callback=None, **_):
    """Complex ``(batch, H, W)``, or a ``SampleSet`` when ``n_samples > 1``."""
    opts = options or CCDFOptions()
    t0 = opts.t0
    if t0 == "auto":
        eps0 = opts.eps0 if opts.eps0 is not None else initializer_error(getattr(unet, "meta", {}), physics)
        if eps0 is None:
            raise ValueError("t0='auto' needs the initializer's error eps0 (stored with the U-Net weights "
                             "as meta.eps0_mean, or CCDFOptions.eps0)")
        t0 = auto_t0(prior.schedule, float(eps0), opts.auto_rho)
    t0 = float(t0)
    if not 0 < t0 <= 1:
        raise ValueError(f"t0 must be in (0, 1], got {t0}")
    x_init = initial_estimate(physics, y, init, unet, generator)
    return run_from(physics, y, prior, x_init, t0, opts, generator, callback, seed)


def nfe(schedule, t0: float, steps: int | None) -> int:
    t_start = max(min(int(round(t0 * schedule.T)) - 1, schedule.T - 1), 0)
    return len(schedule.timesteps(t_start, steps))


