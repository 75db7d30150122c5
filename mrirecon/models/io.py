"""Save / load networks as ``config.json`` + ``model.safetensors`` (never pickle).

``config.json`` holds ``{"class": <registered name>, "config": {...}, "meta": {...}}``. Loading
rebuilds the network from its config and checks every tensor's name and shape, raising
``WeightsError`` naming the file and the first mismatch.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from mrirecon.io.atomic import atomic_path

_REGISTRY: dict[str, type] = {}


class WeightsError(RuntimeError):
    pass


def register(name: str):
    def deco(cls):
        _REGISTRY[name] = cls
        cls.registry_name = name
        return cls
    return deco


def save_model(model: torch.nn.Module, folder, meta: dict | None = None, half: bool = False) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, tmp)
    doc = {"class": model.registry_name, "config": model.config_dict(), "meta": meta or {},
           "sha256": file_sha256(folder / "model.safetensors")}
    with atomic_path(folder / "config.json") as tmp:
        Path(tmp).write_text(json.dumps(doc, indent=2))
    return folder


def read_config(folder) -> dict:
    folder = Path(folder)
    path = folder / "config.json"
    if not path.exists():
        raise WeightsError(f"{path}: no config.json (expected config.json + model.safetensors)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: not valid JSON ({exc})") from exc


def load_state_checked(model: torch.nn.Module, path) -> None:
    path = Path(path)
    if not path.exists():
        raise WeightsError(f"{path}: weights file not found")
    try:
        state = load_file(str(path))
    except Exception as exc:  # safetensors raises several types
        raise WeightsError(f"{path}: unreadable safetensors file ({exc})") from exc
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise WeightsError(f"{path}: weights do not match the config: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise WeightsError(f"{path}: tensor {k} has shape {tuple(state[k].shape)}, config expects {tuple(v.shape)}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise WeightsError(f"{path}: tensor {bad[0]} has NaN or Inf values ({len(bad)} non-finite tensors)")
    model.load_state_dict({k: state[k].to(own[k].dtype) for k in own})


def load_model(folder, expect: str | None = None, device="cpu") -> torch.nn.Module:
    """Rebuild the network saved in ``folder`` (any registered class), on ``device``, in eval mode."""
    import mrirecon.models  # noqa: F401  (registers every network class)

    folder = Path(folder)
    doc = read_config(folder)
    name = doc.get("class")
    if expect is not None and name != expect:
        raise WeightsError(f"{folder}: holds a {name!r} network, expected {expect!r}")
    if name not in _REGISTRY:
        raise WeightsError(f"{folder}: unknown network class {name!r} (known: {sorted(_REGISTRY)})")
    try:
        model = _REGISTRY[name](**doc.get("config", {}))
    except TypeError as exc:
        raise WeightsError(f"{folder}/config.json: bad config for {name}: {exc}") from exc
    digest = file_sha256(folder / "model.safetensors") if (folder / "model.safetensors").exists() else None
    if doc.get("sha256") and digest and doc["sha256"] != digest:
        raise WeightsError(f"{folder}/model.safetensors: sha256 {digest[:12]}… does not match config.json's "
                           f"{doc['sha256'][:12]}… (corrupted or replaced weights)")
    if not doc.get("sha256"):
        warnings.warn(f"{folder}: config.json records no sha256 of the weights; they are used unchecked", stacklevel=2)
    load_state_checked(model, folder / "model.safetensors")
    model.meta = doc.get("meta", {})
    model.weights_sha256 = digest
    return model.to(device).eval()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def warn_if_far_from_training_size(model, shape, factor: float = 2.5) -> None:
    """Warn when a network meets images far outside the size it was trained on (``meta["train_size"]``,
    recorded at training): the result may be poor, and large inputs cost much time and memory."""
    ts = (getattr(model, "meta", None) or {}).get("train_size")
    if not ts:
        return
    h, w = int(shape[-2]), int(shape[-1])
    if max(h, w) > factor * ts or max(h, w) < ts / factor:
        warnings.warn(f"{type(model).__name__} trained on {ts}x{ts} images meets {h}x{w}: outside its training range "
                      f"(x{factor}); expect lower quality and {((h * w) / ts ** 2):.0f}x the compute per image; consider "
                      "`mrirecon train` on your data", stacklevel=3)
