"""Method name → solver callable ``solve(op, y, seed=...)`` built from a ``ReconConfig``.

Loads the networks a method needs (the shipped defaults unless ``--weights`` names a folder).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

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
    import mrirecon.models.sr3  # noqa: F401
    import mrirecon.models.unet  # noqa: F401

    return load_model(folder, device=device)


def apply_options(opts, extra: dict | None = None, **kw):
    """``opts`` with the given flags that are set, then ``extra`` (``--option KEY=VALUE``) applied.

    ``extra`` names are checked against the options dataclass so a typo is an error, not a no-op.
    """
    extra = dict(extra or {})
    names = {f.name for f in dataclasses.fields(opts)}
    bad = sorted(set(extra) - names)
    if bad:
        raise ValueError(f"unknown option(s) {', '.join(bad)} for {type(opts).__name__}; "
                         f"known: {', '.join(sorted(names))}")
    return dataclasses.replace(opts, **{k: v for k, v in kw.items() if v is not None}, **extra)


def parse_option(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` → (key, value) with VALUE read as int, float, true/false, none, or a string."""
    if "=" not in text:
        raise ValueError(f"--option expects KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    k = k.strip().replace("-", "_")
    low = v.strip().lower()
    if low in ("true", "false"):
        return k, low == "true"
    if low in ("none", "null"):
        return k, None
    for conv in (int, float):
        try:
            return k, conv(v)
        except ValueError:
            pass
    return k, v


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

        opts = apply_options(cs.CSOptions(), cfg.options, lamda=cfg.lamda, max_iter=cfg.max_iter)
        info["options"] = dataclasses.asdict(opts)
        return (lambda op, y, seed=0: cs.solve(op.to("cpu"), y.cpu(), options=opts).to(y.device)), info
    if m == "unet":
        from mrirecon.recon import unet as unet_solver

        net = load_network("unet", cfg.weights, device)
        info["weights_sha256"] = net.weights_sha256
        fdc = {"none": False, "replace": True, "cg": "cg", "auto": "auto", None: UNET_FINAL_DC}[cfg.final_dc]
        opts = apply_options(unet_solver.UNetOptions(final_dc=fdc), cfg.options)
        info["options"] = dataclasses.asdict(opts)
        return (lambda op, y, seed=0: unet_solver.solve(op, y, model=net, options=opts)), info
    if m not in ("diffusion", "ccdf", "red-diff", "dps"):
        raise ValueError(f"unknown method {m!r}; available: {', '.join(method_names())}")
    from mrirecon.diffusion.prior import DiffusionPrior
    from mrirecon.models.io import WeightsError

    folder = Path(cfg.weights) if cfg.weights else default_weights("prior")
    if not (folder / "config.json").exists():
        raise WeightsError(f"{folder}: no diffusion prior weights; train with `mrirecon train prior` or pass --weights")
    prior = DiffusionPrior.load(folder, device)
    info["weights_sha256"] = prior.net.weights_sha256
    if m == "diffusion":
        from mrirecon.recon import diffusion

        opts = apply_options(diffusion.DiffusionOptions(), cfg.options, steps=cfg.steps, eta=cfg.eta,
                             n_samples=cfg.samples, dc=cfg.dc, dc_mode=cfg.dc_mode, dc_weight=cfg.dc_weight)
        info["options"] = dataclasses.asdict(opts)
        return _sampler(lambda op, y, seed: diffusion.solve(op, y, prior, options=opts, seed=seed)), info
    if m == "ccdf":
        from mrirecon.recon import ccdf

        unet = load_network("unet", cfg.unet_weights, device)
        info["unet_weights_sha256"] = unet.weights_sha256
        opts = apply_options(ccdf.CCDFOptions(**CCDF_DEFAULTS), cfg.options, t0=cfg.t0, steps=cfg.steps, eta=cfg.eta,
                             n_samples=cfg.samples, dc=cfg.dc, dc_mode=cfg.dc_mode, dc_weight=cfg.dc_weight)
        info["options"] = dataclasses.asdict(opts)
        return _sampler(lambda op, y, seed: ccdf.solve(op, y, prior, init="unet", unet=unet, options=opts,
                                                        seed=seed)), info
    if m == "red-diff":
        from mrirecon.recon import red_diff

        opts = apply_options(red_diff.REDDiffOptions(**RED_DIFF_DEFAULTS), cfg.options, lamda=cfg.lamda, lr=cfg.lr,
                             steps=cfg.steps)
        unet = load_network("unet", cfg.unet_weights, device) if opts.init == "unet" else None
        info["options"] = dataclasses.asdict(opts)
        return (lambda op, y, seed=0: red_diff.solve(op, y, prior, options=opts, unet=unet, seed=seed)), info
    from mrirecon.recon import dps

    opts = apply_options(dps.DPSOptions(**DPS_DEFAULTS), cfg.options, steps=cfg.steps, eta=cfg.eta)
    info["options"] = dataclasses.asdict(opts)
    return (lambda op, y, seed=0: dps.solve(op, y, prior, options=opts, seed=seed)), info


# Tuned defaults of the shipped networks (see docs/benchmarks.md for the runs behind them).
UNET_FINAL_DC: bool | str = "auto"  # CG data consistency after the U-Net for multi-coil data
CCDF_DEFAULTS: dict = {"t0": 0.1, "steps": 10, "eta": 1.0, "dc_mode": "prox", "dc_weight": 0.05}
# RED-diff from the U-Net estimate with the timesteps descending from 0.3·T: better than the paper's
# start (zero-filled, from T) at half the iterations on single- and multi-coil validation data
RED_DIFF_DEFAULTS: dict = {"lamda": 0.25, "lr": 0.1, "steps": 100, "init": "unet", "t_max": 0.3}
DPS_DEFAULTS: dict = {"steps": 1000, "zeta": 1.0}  # the paper's 1000 steps


def _sampler(fn):
    """Adapt a sampler's ``SampleSet`` (several samples) to the batch driver's ``(mean, std)``."""
    from mrirecon.recon.result import SampleSet

    def solve(op, y, seed=0):
        r = fn(op, y, seed)
        return (r.mean, r.std) if isinstance(r, SampleSet) else r

    return solve
