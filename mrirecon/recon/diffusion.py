"""Full reverse diffusion with data consistency (the score-MRI baseline).

Starts from pure noise at t = T−1 and runs every reverse step (or a DDIM subset with ``steps``),
each followed by the operator's data-consistency map: CCDF with a zero estimate and t0 = 1, the
same loop (``recon.sampling.posterior_sample``).
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.recon.registry import register
from mrirecon.recon.options import default_of
from mrirecon.recon.sampling import SamplerOptions, posterior_sample


@dataclasses.dataclass
class DiffusionOptions(SamplerOptions):
    """Full reverse diffusion: the σ_t-weighted proximal data step on x̂0 (μ_t = λ σ_n²/σ̄_t², λ = 0.5),
    DiffPIR's update (ζ = 1; antithetic noise pairs since round 23) on DiffPIR's step grid (quadratic, dense
    near t = 0, the denoiser at σ̄_t/2). Chosen in round 15 (docs/benchmarks.md) over the earlier linear grid
    at σ × 0.1 with λ = 1 by the mean over 20 robustness cells at 20 and 40 dB (26.90 vs 26.73 dB; no cell more
    than 1 dB lower); the 30 dB peer cells of issue 21 were scored afterwards."""

    dc_mode: str = default_of(SamplerOptions, "dc_mode", "prox")
    dc_weight: float | str = default_of(SamplerOptions, "dc_weight", "auto")
    dc_lambda: float = default_of(SamplerOptions, "dc_lambda", 0.5)
    sigma_scale: float = default_of(SamplerOptions, "sigma_scale", 0.5)
    spacing: str = default_of(SamplerOptions, "spacing", "quadratic")
    diffpir_zeta: float | None = default_of(SamplerOptions, "diffpir_zeta", 1.0)
    # antithetic re-noising: +0.35 dB on round 15's 20 robustness cells (+0.08 ... +0.79, none lower) and
    # +0.48 / +0.63 dB on issue 21's single- / 8-coil R=4 peer cells at 100 NFE (docs/benchmarks.md, round 23)
    renoise: str = default_of(SamplerOptions, "renoise", "antithetic")


@register("diffusion", DiffusionOptions, networks=("prior",), summary="full reverse diffusion from noise")
def solve(physics, y: torch.Tensor, prior, *, init=None, options: DiffusionOptions | None = None, generator=None,
          callback=None):
    """Complex ``Result``. Randomness: ``generator`` (see ``diffusion.schedule.sample_generators``);
    item i of a batch gets the same noise whatever the batch."""
    if init is not None:
        raise ValueError("full diffusion starts from noise and takes no init (use ccdf for a start estimate)")
    return posterior_sample(physics, y, prior, None, 1.0, options or DiffusionOptions(), generator, callback)
