"""Package data (shipped weights, the demo file, dataset specs) through importlib.resources.

Nothing reads a path relative to the source tree, so an installed wheel finds the same files as a
checkout. ``importlib.resources.files`` returns real paths for a normally installed package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

NETWORKS = ("unet", "prior", "sr3", "srnet")


def package_path(*parts: str) -> Path:
    return Path(str(resources.files("mrirecon").joinpath(*parts)))


def weights_dir(kind: str) -> Path:
    """Folder of the shipped network ``kind`` (unet, prior, sr3, srnet): config.json + model.safetensors."""
    if kind not in NETWORKS:
        raise ValueError(f"unknown network {kind!r}: {', '.join(NETWORKS)}")
    return package_path("weights", kind)


def demo_file() -> Path:
    return package_path("demo", "demo_brain_multicoil.h5")


def spec_dir() -> Path:
    return package_path("data", "specs")
