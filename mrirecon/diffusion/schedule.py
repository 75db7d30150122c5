"""VP / DDPM noise schedule with direct access to the quantities the solvers need.

Timesteps are indices ``t = 0 .. T-1`` (diffusers convention); ``alpha_bar(-1) = 1`` is the clean
image. Forward noising ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps``.
"""

from __future__ import annotations

import dataclasses
import math

import torch


@dataclasses.dataclass
class ScheduleConfig:
    num_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    kind: str = "linear"  # "linear" | "cosine"


class VPSchedule:
    def __init__(self, config: ScheduleConfig | None = None, **kwargs):
        self.config = config or ScheduleConfig(**kwargs)
        c = self.config
        T = c.num_timesteps
        if c.kind == "linear":
            betas = torch.linspace(c.beta_start, c.beta_end, T, dtype=torch.float64)
        elif c.kind == "cosine":
            s = 0.008
            f = lambda u: math.cos((u / T + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
            betas = torch.tensor([min(1 - f(i + 1) / f(i), 0.999) for i in range(T)], dtype=torch.float64)
        else:
            raise ValueError(f"unknown schedule kind {c.kind!r} (linear or cosine)")
        self.T = T
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(self.alphas, 0)

    # --- scalar quantities (float64 tensors indexed by t; t = -1 means clean) ---
    def alpha_bar(self, t) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.long)
        ab = self.alphas_cumprod[t.clamp(min=0)]
        return torch.where(t < 0, torch.ones_like(ab), ab)

    def sigma_over_alpha(self, t) -> torch.Tensor:
        """sigma_t / alpha_t = sqrt(1 - abar) / sqrt(abar): the inverse square-root SNR."""
        ab = self.alpha_bar(t)
        return torch.sqrt((1 - ab) / ab)

    def contraction_lambda(self, n: int | None = None) -> float:
        """lambda = max_i sqrt(alpha_i) (1 - abar_{i-1}) / (1 - abar_i) over the first n steps (CCDF Thm 1)."""
        n = self.T if n is None else n
        i = torch.arange(1, max(n, 2))
        lam = torch.sqrt(self.alphas[i]) * (1 - self.alphas_cumprod[i - 1]) / (1 - self.alphas_cumprod[i])
        return float(lam.max())

    # --- tensor operations ---
    def _bcast(self, v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        v = v.to(device=like.device, dtype=torch.float32)
        return v.reshape(-1, *([1] * (like.dim() - 1))) if v.dim() else v

    def q_sample(self, x0: torch.Tensor, t, noise: torch.Tensor) -> torch.Tensor:
        """Sample q(x_t | x_0); ``t`` a scalar or a (batch,) tensor."""
        ab = self._bcast(self.alpha_bar(t), x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def predict_x0(self, xt: torch.Tensor, t, eps: torch.Tensor) -> torch.Tensor:
        ab = self._bcast(self.alpha_bar(t), xt)
        return (xt - (1 - ab).sqrt() * eps) / ab.sqrt()

    def eps_from_x0(self, xt: torch.Tensor, t, x0: torch.Tensor) -> torch.Tensor:
        ab = self._bcast(self.alpha_bar(t), xt)
        return (xt - ab.sqrt() * x0) / (1 - ab).sqrt()

    def step(self, x0_hat: torch.Tensor, eps: torch.Tensor, t: int, t_prev: int, eta: float = 0.0,
             generator: torch.Generator | None = None, noise=None) -> torch.Tensor:
        """One DDIM step from t to t_prev (< t) given x̂0 and ε̂.

        ``eta = 1`` with ``t_prev = t - 1`` is exactly DDPM ancestral sampling (posterior variance
        beta-tilde); ``eta = 0`` is deterministic DDIM. ``t_prev = -1`` returns x̂0. ``noise``: a
        ``StepNoise`` (or any ``like -> tensor``) instead of fresh draws from ``generator``.
        """
        if t_prev < 0:
            return x0_hat
        ab_t = float(self.alpha_bar(t))
        ab_p = float(self.alpha_bar(t_prev))
        sigma = eta * math.sqrt(max((1 - ab_p) / (1 - ab_t) * (1 - ab_t / ab_p), 0.0))
        dir_coef = math.sqrt(max(1 - ab_p - sigma ** 2, 0.0))
        out = math.sqrt(ab_p) * x0_hat + dir_coef * eps
        if sigma > 0:
            out = out + sigma * (noise(out) if noise is not None else randn_like(out, generator))
        return out

    def step_zeta(self, x_t: torch.Tensor, x0_hat: torch.Tensor, t: int, t_prev: int, zeta: float,
                  generator: torch.Generator | None = None, noise=None) -> torch.Tensor:
        """DiffPIR's update (Zhu et al. 2023) from t to t_prev: the noise implied by x_t and the
        (corrected) x̂0, ε̃ = (x_t − √ᾱ_t x̂0)/√(1−ᾱ_t), mixed with fresh noise by ζ ∈ [0, 1]
        (``noise``: as in ``step``)."""
        if t_prev < 0:
            return x0_hat
        ab_t = float(self.alpha_bar(t))
        ab_p = float(self.alpha_bar(t_prev))
        eps = (x_t - math.sqrt(ab_t) * x0_hat) / math.sqrt(max(1 - ab_t, 1e-12))
        out = math.sqrt(ab_p) * x0_hat + math.sqrt(1 - ab_p) * math.sqrt(max(1 - zeta, 0.0)) * eps
        if zeta > 0:
            z = noise(out) if noise is not None else randn_like(out, generator)
            out = out + math.sqrt(1 - ab_p) * math.sqrt(zeta) * z
        return out

    def scale_sigmas(self, ts: list[int], factor: float) -> list[int]:
        """Each timestep t → the one whose noise level σ̄ = √((1−ᾱ)/ᾱ) is nearest to ``factor``·σ̄_t,
        de-duplicated (descending). ``factor`` < 1 moves a grid's steps toward low noise (DiffPIR,
        running on images in [−1, 1], sees σ̄_t/2 at step t: ``factor`` 0.5)."""
        if factor == 1.0:
            return list(ts)
        table = self.sigma_over_alpha(torch.arange(self.T))
        target = table[torch.as_tensor(ts)] * factor
        out: list[int] = []
        for m in (table[None, :] - target[:, None]).abs().argmin(1).tolist():  # t_for_sigma, all at once
            if not out or m < out[-1]:
                out.append(m)
        return out

    def timesteps(self, t_start: int, steps: int | None = None, unique: bool = True,
                  spacing: str = "linear") -> list[int]:
        """Descending timesteps from ``t_start`` down to 0: every step, or ``steps`` of them (rounded),
        evenly spaced (``spacing="linear"``) or ``"quadratic"``: t = t_start·(1 − √u) for u evenly
        spaced in [0, 1] — DiffPIR's grid (Zhu et al. 2023), steps twice as dense as linear near t = 0
        and sparse at high noise. ``unique=False`` keeps repeated values when ``steps > t_start + 1``
        (RED-diff's iteration schedule); the samplers use the de-duplicated list."""
        if steps is not None and int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if spacing not in ("linear", "quadratic"):
            raise ValueError(f"unknown timestep spacing {spacing!r}: linear or quadratic")
        if unique and (steps is None or steps >= t_start + 1):
            return list(range(t_start, -1, -1))
        if steps is None:
            steps = t_start + 1
        if spacing == "quadratic":
            u = torch.linspace(0, 1, int(steps), dtype=torch.float64)
            ts = (t_start * (1 - u.sqrt())).round().long().tolist()
        else:
            ts = torch.linspace(t_start, 0, int(steps)).round().long().tolist()
        if not unique:
            return [int(t) for t in ts]
        out: list[int] = []
        for t in ts:
            if not out or t < out[-1]:
                out.append(int(t))
        return out

    def start_index(self, t0: float) -> int:
        """Timestep index where a sampler started at fraction ``t0`` of the schedule begins."""
        return max(min(int(round(t0 * self.T)) - 1, self.T - 1), 0)

    def t_for_sigma(self, sigma: float) -> int:
        """Timestep whose noise level in image units, σ_t/α_t = √((1−ᾱ_t)/ᾱ_t), is nearest to ``sigma``
        (an image ``x0 + σ n`` is ``x_t / α_t`` at that t)."""
        s = self.sigma_over_alpha(torch.arange(self.T))
        return int((s - float(sigma)).abs().argmin())


def randn_like(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Standard normal noise like ``x``; complex: unit variance per real and imaginary part (as
    the network's two channels see it).

    ``generator`` may be one ``torch.Generator`` or a list with one per batch item (so an item's
    noise does not depend on which batch it was solved in).
    """
    if isinstance(generator, (list, tuple)):
        if len(generator) != x.shape[0]:
            raise ValueError(f"{len(generator)} generators for a batch of {x.shape[0]}")
        return torch.stack([randn_like(x[i], g) for i, g in enumerate(generator)])
    if x.is_complex():
        return torch.view_as_complex(torch.randn((*x.shape, 2), generator=generator, device=x.device,
                                                 dtype=torch.float32)).to(x.dtype)
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


class StepNoise:
    """The noise that the reverse steps add, drawn from ``generator`` (one or one per item, as
    ``randn_like``).

    ``renoise="fresh"``: an independent draw at every step. ``"antithetic"``: antithetic pairs, a draw
    and then its negative at the next step, and so on (z₁, −z₁, z₂, −z₂, …). Each step's noise is
    still standard normal, so the network sees inputs of the noise level it was trained for, but the
    two draws of a pair push the estimate in opposite directions and their effects on the result
    largely cancel: less sampling variance at the same number of network evaluations
    (docs/benchmarks.md, round 23). One ``StepNoise`` serves one chain (``reverse_diffusion`` makes it).
    """

    CHOICES = ("fresh", "antithetic")

    def __init__(self, generator=None, renoise: str = "fresh"):
        if renoise not in self.CHOICES:
            raise ValueError(f"unknown re-noising {renoise!r}: one of {', '.join(self.CHOICES)}")
        self.generator, self.renoise, self._pending = generator, renoise, None

    def __call__(self, like: torch.Tensor) -> torch.Tensor:
        if self._pending is not None:
            z, self._pending = -self._pending, None
            return z
        z = randn_like(like, self.generator)
        if self.renoise == "antithetic":
            self._pending = z
        return z


def item_generators(seed: int, n: int, device="cpu", sample: int = 0) -> list[torch.Generator]:
    """One generator per batch item: item i of sample k is seeded by ``seed + i + 1_000_003·k``."""
    return [torch.Generator(device=device).manual_seed(int(seed) + i + 1_000_003 * sample) for i in range(n)]


def sample_generators(generator, batch: int, n_samples: int = 1, device="cpu"):
    """Generators for a sample-tiled batch (``n_samples × batch``, sample-major).

    ``None``: per-item generators seeded 0..batch−1 (``item_generators``); a list of ``batch``
    generators: sample k of item i is seeded ``initial_seed(i) + 1_000_003·k`` (sample 0 is the
    generator itself), so an item's noise does not depend on the batch it was solved in; a list of
    ``batch × n_samples``: used as given; one ``torch.Generator``: shared by every item.
    """
    if generator is None:
        return [g for k in range(n_samples) for g in item_generators(0, batch, device, k)]
    if isinstance(generator, (list, tuple)):
        gens = list(generator)
        if len(gens) == batch * n_samples:
            return gens
        if len(gens) != batch:
            raise ValueError(f"{len(gens)} generators for a batch of {batch} (× {n_samples} samples)")
        out = list(gens)
        for k in range(1, n_samples):
            out += [torch.Generator(device=g.device).manual_seed(g.initial_seed() + 1_000_003 * k) for g in gens]
        return out
    return generator
