"""Method name → solver callable ``solve(op, y, seed=...)`` built from a ``ReconConfig``.

Loads the networks a method needs (the shipped defaults unless ``--weights`` names a folder).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from mrirecon.cli.batch import ReconConfig, resolve_device

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def default_weights(kind: str) -> Path:
    return WEIGHTS_DIR / kind


def load_network(kind: str, path: str | None, device):
    from mrirecon.models.io import WeightsError, load_model

    folder = Path(path) if path else default_weights(kind)
    if not (folder / "config.json").exists():
        raise WeightsError(f"{folder}: no {kind} weights (config.json + model.safetensors); "
                           f"train them with `mrirecon train {kind}` or pass --weights")
    import mrirecon.models.prior  # noqa: F401  (register classes)
    import mrirecon.models.unet  # noqa: F401

    return load_model(folder, device=device)


def _set(opts, **kw):
    return dataclasses.replace(opts, **{k: v for k, v in kw.items() if v is not None})


def method_names() -> list[str]:
    return ["zero-filled", "cs", "unet", "diffusion", "ccdf", "red-diff", "dps"]


def make_solver(cfg: ReconConfig):
    """Return ``(solver, info)`` where ``solver(op, y, seed) -> image`` or ``(image, std)``."""
    device = resolve_device(cfg.device)
    m = cfg.method
    info: dict = {"method": m}
    if m == "zero-filled":
        from mrirecon.recon import zero_filled

        return (lambda op, y, seed=0: zero_filled.solve(op, y)), info
    if m == "cs":
        from mrirecon.recon import cs

        opts = _set(cs.CSOptions(), lamda=cfg.lamda, max_iter=cfg.max_iter)
        info["options"] = dataclasses.asdict(opts)
        return (lambda op, y, seed=0: cs.solve(op.to("cpu"), y.cpu(), options=opts).to(y.device)), info
    raise ValueError(f"unknown method {m!r}; available: {', '.join(method_names())}")
