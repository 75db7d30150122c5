"""Resumable training checkpoints without pickle.

A checkpoint folder holds ``model.safetensors`` (raw weights), optionally ``ema/`` (EMA weights in
the shipping layout: config.json + model.safetensors), ``optim.safetensors`` (Adam moments and
step counts; optional — without it a resume starts the moments afresh) and ``state.json`` (step, wall
time, history, config).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from mrirecon.io.atomic import atomic_path
from mrirecon.models.io import load_state_checked, save_model


def save_checkpoint(folder, model, opt, state: dict, ema=None) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, tmp)
    if ema is not None:
        save_model(ema, folder / "ema", meta=state.get("meta", {}))
    flat = {}
    for pid, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            flat[f"{pid}.{k}"] = t.detach().cpu().contiguous()
    with atomic_path(folder / "optim.safetensors") as tmp:
        save_file(flat, tmp)
    with atomic_path(folder / "state.json") as tmp:
        Path(tmp).write_text(json.dumps(state, indent=1))


def load_checkpoint(folder, model, opt, ema=None) -> dict:
    folder = Path(folder)
    load_state_checked(model, folder / "model.safetensors")
    if ema is not None:
        load_state_checked(ema, folder / "ema" / "model.safetensors")
    if not (folder / "optim.safetensors").exists():  # a checkpoint shipped without its Adam moments (kept out of
        return json.loads((folder / "state.json").read_text())  # git for size): they start afresh
    flat = load_file(str(folder / "optim.safetensors"))
    sd = opt.state_dict()
    state: dict = {}
    for key, v in flat.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    sd["state"] = state
    opt.load_state_dict(sd)
    return json.loads((folder / "state.json").read_text())


def has_checkpoint(folder) -> bool:
    return (Path(folder) / "state.json").exists()
