"""Networks and their save/load (safetensors + config.json). Importing this package registers every
network class, so ``load_model`` works for each shipped class in a fresh interpreter."""

from mrirecon.models import prior, sr3, unet  # noqa: F401  (fill the network registry)
from mrirecon.models.io import WeightsError, load_model, save_model

__all__ = ["load_model", "save_model", "WeightsError", "unet", "prior", "sr3"]
