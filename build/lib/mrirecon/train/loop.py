"""The one training loop: device and threads, seeded initialisation, Adam with the objective's
learning-rate schedule, gradient clipping, EMA, resumable checkpoints (safetensors + JSON, never
pickle), validation with best-by-validation export in the shipping layout, a JSON-lines log and
a tqdm progress bar.

An objective (``mrirecon.train.objectives``) supplies the network, a batch for each step (drawn
from generators reseeded by the step number, so a resumed run sees the same stream as an
uninterrupted one), the loss, the validation and the metadata of exported weights.

Layout of ``cfg.out``: ``last/`` (model, optimizer, state, ``ema/``), ``best/`` (config.json +
model.safetensors of the best validation score, EMA weights when EMA is on), ``train.log``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import torch

from mrirecon.device import resolve_device
from mrirecon.models.io import save_model
from mrirecon.train.checkpoint import has_checkpoint, load_checkpoint, optimizer_step, save_checkpoint


def field(default, help: str):
    """A documented training-config field (the help shows in ``mrirecon train <what> --help``)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainConfig:
    """Fields every objective has."""

    data: str = field("data/prepared", "prepared slices folder (mrirecon data prepare)")
    size: int = field(128, "prepared slice size")
    out: str = field("runs/train", "output folder (resumes from <out>/last)")
    batch_size: int = field(8, "items per step")
    lr: float = field(1e-3, "Adam learning rate")
    steps: int = field(100000, "stop after this many steps in all")
    max_minutes: float | None = field(None, "stop (with a checkpoint) after this many minutes of this run")
    checkpoint_every: int = field(250, "steps between checkpoints")
    val_every: int = field(250, "steps between validations (at a checkpoint)")
    seed: int = field(0, "seed of initialisation and data stream")
    threads: int | None = field(None, "torch CPU threads")
    device: str = field("auto", "auto, cpu or cuda")


class Logger:
    def __init__(self, out: Path, log=print):
        self._f = open(out / "train.log", "a")
        self._log = log

    def __call__(self, msg: str) -> None:
        self._f.write(msg + "\n")
        self._f.flush()
        if self._log:
            self._log(msg)

    def close(self) -> None:
        self._f.close()


def train(objective, cfg: TrainConfig, log=print) -> Path:
    """Train (or resume) until ``cfg.steps`` or ``cfg.max_minutes``; returns ``<out>/best``."""
    from tqdm import tqdm

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    say = Logger(out, log)
    torch.manual_seed(cfg.seed)  # reproducible initialisation
    model = objective.build_model().to(device)
    ema = None
    if getattr(cfg, "ema", None):
        ema = copy.deepcopy(model).eval()
        for p in ema.parameters():
            p.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"step": 0, "wall_seconds": 0.0, "history": [], "best_score": None, "config": dataclasses.asdict(cfg)}
    last = out / "last"
    if has_checkpoint(last):
        state = load_checkpoint(last, model, opt, ema)
        state.setdefault("best_score", state.pop("best_psnr", None))
        say(f"resumed from {last} at step {state['step']}")
        objective.on_resume(state, say)
    objective.setup(device)
    step, start_step, start_wall, t_begin = state["step"], state["step"], state["wall_seconds"], time.time()
    bar = tqdm(total=cfg.steps, initial=step, desc=objective.name, dynamic_ncols=True, mininterval=30)
    losses: list[float] = []
    while step < cfg.steps:
        if cfg.max_minutes and time.time() - t_begin > cfg.max_minutes * 60:
            break
        batch = objective.batch(step)
        for g in opt.param_groups:
            g["lr"] = objective.lr_at(step)
        loss = objective.loss(model, batch)
        losses.append(optimizer_step(opt, loss, clip=objective.clip))
        if ema is not None:
            decay = min(cfg.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - decay)
        step += 1
        bar.update(1)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            wall = start_wall + time.time() - t_begin
            rec = {"step": step, "loss": round(sum(losses) / max(len(losses), 1), 5), "wall_s": round(wall, 1),
                   "s_per_step": round((time.time() - t_begin) / max(step - start_step, 1), 3)}
            losses = []
            state.update(step=step, wall_seconds=wall)
            net = ema if ema is not None else model
            meta = objective.meta(state)
            if step % cfg.val_every == 0 or step == cfg.steps:
                val = objective.validate(net)
                rec[objective.val_key] = val
                score = objective.score(val)
                if state.get("best_score") is None or score > state["best_score"]:
                    state["best_score"] = score
                    save_model(net, out / "best", meta={**meta, "validation": val, **objective.best_meta(val)})
                    rec["best"] = True
            state["history"].append(rec)
            state["meta"] = meta
            save_checkpoint(last, model, opt, state, ema)
            say(json.dumps(rec))
    bar.close()
    say.close()
    return out / "best"
