"""A registered method bound to its options and networks: ``Reconstructor(physics, y, generator)``.

The networks a method needs (``Method.networks``) are loaded from ``weights`` / ``unet_weights``
or the shipped defaults (``mrirecon.resources``); the options are the method's dataclass with the
given overrides — nothing else, so the Python API (``solve`` with the same options and networks)
and the command line give the same image.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from mrirecon.device import resolve_device
from mrirecon.models.io import WeightsError, load_model
from mrirecon.recon import registry
from mrirecon.recon.result import Result
from mrirecon.resources import weights_dir


def _weights_folder(kind: str, path=None) -> Path:
    folder = Path(path) if path else weights_dir(kind)
    if not (folder / "config.json").exists():
        raise WeightsError(f"{folder}: no {kind} weights (config.json + model.safetensors); "
                           f"train them with `mrirecon train {kind}` or pass --weights")
    return folder


def load_network(kind: str, path=None, device="cpu"):
    """A network folder (config.json + model.safetensors), the shipped ``kind`` by default."""
    return load_model(_weights_folder(kind, path), device=device)


def load_prior(path=None, device="cpu", kind: str = "prior"):
    """The diffusion prior (``kind="prior"``) or the SR3 conditional prior (``kind="sr3"``)."""
    from mrirecon.diffusion.prior import DiffusionPrior

    return DiffusionPrior.load(_weights_folder(kind, path), device)


@dataclasses.dataclass
class Reconstructor:
    method: registry.Method
    options: object
    prior: object = None
    init: object = None
    info: dict = dataclasses.field(default_factory=dict)

    def __call__(self, physics, y: torch.Tensor, generator=None, callback=None) -> Result:
        return self.method.solve(physics, y, self.prior, init=self.init, options=self.options, generator=generator,
                                 callback=callback)


def build_solver(method: str, options: dict | None = None, *, task: str = "mri", weights=None, unet_weights=None,
                 device="auto") -> Reconstructor:
    m = registry.get(method, task)
    opts = m.make_options(options)
    dev = resolve_device(device)
    prior = init = None
    info: dict = {"method": method, "task": task, "options": opts.to_dict()}
    if "prior" in m.networks:
        prior = load_prior(weights, dev)
        info["weights_sha256"] = prior.net.weights_sha256
    if "sr3" in m.networks:
        prior = load_prior(weights, dev, kind="sr3")
        info["weights_sha256"] = prior.net.weights_sha256
    for kind in ("unet", "srnet"):  # the feed-forward network of the task (MRI / SR)
        if kind not in m.networks:
            continue
        if m.name == "unet":
            prior = load_network(kind, weights, dev)
            info["weights_sha256"] = prior.weights_sha256
        elif getattr(opts, "init", None) == "unet":
            init = load_network(kind, unet_weights, dev)
            info["unet_weights_sha256"] = init.weights_sha256
    return Reconstructor(m, opts, prior, init, info)
