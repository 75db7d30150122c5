"""Full reverse diffusion with data consistency (the score-MRI baseline).

Starts from pure noise at t = T−1 (x_T = √ᾱ_T·0 + √(1−ᾱ_T) z, i.e. CCDF with a zero initial
estimate and t0 = 1 — the same loop) and runs every reverse step, or a DDIM subset with
``steps``, each followed by the operator's data-consistency map.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.diffusion.schedule import item_generators, randn_like
from mrirecon.recon.common import bshape, measurement_scale
from mrirecon.recon.result import collect, repeat_for_samples
from mrirecon.recon.sampling import SamplerOptions, reverse_diffusion


@dataclasses.dataclass
class DiffusionOptions(SamplerOptions):
    n_samples: int = 1


def solve(physics, y: torch.Tensor, prior, *, options: DiffusionOptions | None = None, seed: int = 0,
          generator=None, callback=None, **_):
    """Complex ``(batch, H, W)``, or a ``SampleSet`` when ``n_samples > 1``.

    Randomness: ``generator`` (one, or a list with one per item), else per-item generators from
    ``seed`` — item i of a batch gets the same noise whatever the batch (``item_generators``).
    """
    return run_from(physics, y, prior, None, 1.0, options or DiffusionOptions(), generator, callback, seed)


def generators_for(y: torch.Tensor, n_samples: int, generator, seed: int):
    """Generators for the sample-tiled batch (n_samples × batch)."""
    b = y.shape[0]
    if generator is None:
        return [g for k in range(n_samples) for g in item_generators(seed, b, y.device, k)]
    if isinstance(generator, (list, tuple)) and n_samples > 1:
        if len(generator) == b * n_samples:
            return list(generator)
        raise ValueError(f"pass {b * n_samples} generators (batch × samples) or a seed")
    return generator


def run_from(physics, y, prior, x_init, t0: float, opts, generator, callback=None, seed: int = 0):
    """Forward-diffuse ``x_init`` (None: zeros) once to ⌈t0·T⌉ and run the conditional reverse process."""
    b = y.shape[0]
    n = getattr(opts, "n_samples", 1)
    generator = generators_for(y, n, generator, seed)
    scale = measurement_scale(physics, y)
    phys, ys = repeat_for_samples(physics, y, n)
    sc = scale.repeat(n)
    ys = ys / bshape(sc, ys)
    x0 = torch.zeros(phys.init(ys).shape, dtype=torch.complex64, device=y.device) if x_init is None else \
        (x_init.repeat(n, 1, 1) / bshape(sc, x_init.repeat(n, 1, 1)))
    sched = prior.schedule
    t_start = max(min(int(round(t0 * sched.T)) - 1, sched.T - 1), 0)
    x = sched.q_sample(x0, t_start, randn_like(x0, generator))
    x = reverse_diffusion(prior, sched, phys, ys, x, t_start, opts, generator, callback)
    x = x * bshape(sc, x)
    return collect(x, n, b)
