"""Solvers, one module each, all with the contract

    solve(physics, y, prior=None, *, init=None, options=None, generator=None, callback=None) -> Result

and registered with their options dataclass (``mrirecon.recon.registry``)."""

# import order = listing order: zero-filled, cs, unet, diffusion, ccdf, red-diff, dps; sr: bicubic, sr3, ccdf, red-diff
from mrirecon.recon import zero_filled, cs, unet, diffusion, sr3, ccdf, red_diff, dps  # noqa: F401,I001  (register)
from mrirecon.recon.registry import get, methods
from mrirecon.recon.result import Result

__all__ = ["ccdf", "cs", "diffusion", "dps", "red_diff", "sr3", "unet", "zero_filled", "get", "methods", "Result"]
