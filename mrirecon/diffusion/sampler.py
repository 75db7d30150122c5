"""The one reverse-diffusion loop (Tweedie estimate → optional guidance / data consistency →
DDIM/ancestral update), shared by full diffusion, CCDF, DPS and SR3.

Each step at timestep t (to t' < t, or −1 for the clean image):

1. ε̂ = ε_θ(x_t, t) and the Tweedie estimate x̂₀ = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t;
2. ``guidance(x_t, x̂₀)`` (optional, with gradients through the network — DPS) returns a correction
   subtracted after the update;
3. |x̂₀| clipped at ``clip_x0``; ``x0_map(x̂₀, t)`` (e.g. the operator's data-consistency map);
4. x_{t'} = √ᾱ_{t'} x̂₀ + √(1−ᾱ_{t'}−σ²) ε̂ + σ z (DDIM with η; η = 1 with consecutive steps is DDPM);
   with ``zeta`` (DiffPIR's update) instead x_{t'} = √ᾱ_{t'} x̂₀ + √(1−ᾱ_{t'}) (√(1−ζ) ε̃ + √ζ z), where
   ε̃ = (x_t − √ᾱ_t x̂₀)/√(1−ᾱ_t) is the noise implied by the *corrected* x̂₀;
5. ``xt_map(x_{t'}, t')`` (optional, e.g. consistency with the measurement noised to level t').

The noise z of step 4 is fresh at every step, or (``renoise="antithetic"``) antithetic pairs z₁, −z₁,
z₂, −z₂, … (``diffusion.schedule.StepNoise``).

Images are complex ``(batch, H, W)`` at the networks' scale (peak magnitude ~1). The number of
network evaluations is ``len(timesteps)``.
"""

from __future__ import annotations

from typing import Callable

import torch

from mrirecon.diffusion.schedule import StepNoise, randn_like


def clip_magnitude(x: torch.Tensor, c: float | None) -> torch.Tensor:
    if c is None:
        return x
    mag = x.abs()
    return torch.where(mag > c, x / mag.clamp_min(1e-12) * c, x)


def reverse_diffusion(prior, x: torch.Tensor, timesteps: list[int], *, eta: float = 1.0, generator=None,
                      clip_x0: float | None = None, x0_map: Callable | None = None, xt_map: Callable | None = None,
                      guidance: Callable | None = None, callback: Callable | None = None,
                      zeta: float | None = None, renoise: str = "fresh") -> torch.Tensor:
    """Run the reverse process from ``x`` at ``timesteps[0]`` through ``timesteps``; returns x at t = −1
    (``callback(i, t, x, x0)`` after each step)."""
    sched = prior.schedule
    noise = StepNoise(generator, renoise)
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        correction = None
        if guidance is not None:
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                eps = prior.eps(xg, t)
                x0 = sched.predict_x0(xg, t, eps)
                correction = guidance(xg, x0)
            eps, x0 = eps.detach(), x0.detach()
        else:
            with torch.no_grad():
                eps = prior.eps(x, t)
                x0 = sched.predict_x0(x, t, eps)
        with torch.no_grad():
            x0 = clip_magnitude(x0, clip_x0)
            if x0_map is not None:
                x0 = x0_map(x0, t)
            if zeta is None:
                x = sched.step(x0, eps, t, t_prev, eta, generator, noise=noise)
            else:
                x = sched.step_zeta(x, x0, t, t_prev, zeta, generator, noise=noise)
            if correction is not None:
                x = x - correction
            if xt_map is not None and t_prev >= 0:
                x = xt_map(x, t_prev)
        if callback is not None:
            callback(i, t, x, x0)
    return x


def consistency_hooks(physics, y: torch.Tensor, placement: str, mode: str, weight, schedule, generator=None,
                      iters: int = 15):
    """``(x0_map, xt_map)`` for the data-consistency placement ``"x0"`` (on the Tweedie estimate),
    ``"xt"`` (on x_{t'} against y_{t'} = √ᾱ_{t'} y + √(1−ᾱ_{t'}) A z, as score-MRI / CCDF's code) or
    ``"none"``. ``weight`` is a number or a function of the timestep (σ_t-weighted proximal step)."""
    w = weight if callable(weight) else (lambda t: weight)  # noqa: E731
    if placement == "x0":
        return (lambda x0, t: physics.consistency(x0, y, mode, w(t), iters)), None
    if placement == "xt":
        def xt_map(x, t_prev):
            ab = float(schedule.alpha_bar(t_prev))
            y_t = ab ** 0.5 * y + (1 - ab) ** 0.5 * physics.forward(randn_like(x, generator))
            return physics.consistency(x, y_t, mode, w(t_prev), iters)
        return None, xt_map
    if placement == "none":
        return None, None
    raise ValueError(f"unknown data-consistency placement {placement!r}: x0, xt or none")
