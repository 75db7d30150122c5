"""The one training loop: device and threads, seeded initialisation, Adam with the objective's
learning-rate schedule, gradient clipping, EMA, mixed precision (``amp``: bf16 autocast, or fp16
with a gradient scaler), gradient accumulation, optional ``torch.compile``, DistributedDataParallel
under ``torchrun`` (NCCL on GPUs, gloo on CPU; rank 0 logs, validates and checkpoints), resumable
checkpoints (safetensors + JSON, never pickle) every ``checkpoint_every`` steps and at the time
limit, validation with best-by-validation export in the shipping layout, a JSON-lines log with
throughput, and a tqdm progress bar.

An objective (``mrirecon.train.objectives``) supplies the network, the items of each step (made from
seeds of (seed, step, item), so N processes × batch B see exactly the items one process with batch
N·B sees, and a resumed run the items an uninterrupted one sees), the loss, the validation and the
metadata of exported weights.

Layout of ``cfg.out``: ``last/`` (model, optimizer, state, ``ema/``), ``best/`` (config.json +
model.safetensors of the best validation score; EMA weights when EMA is on), ``train.log``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import time
from pathlib import Path

import torch

from mrirecon.device import resolve_device
from mrirecon.models.io import save_model
from mrirecon.train.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint


def field(default, help: str):
    """A documented training-config field (the help shows in ``mrirecon train <what> --help``)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainConfig:
    """Fields every objective has."""

    data: str = field("data/prepared", "training data: a prepared folder (mrirecon data prepare) or a "
                                       "fastMRI-layout folder of .h5 files")
    val: str | None = field(None, "validation fastMRI folder (default: a volume-level split of --data)")
    challenge: str | None = field(None, "singlecoil or multicoil: keep only those files of a fastMRI folder")
    size: int = field(128, "prepared slice size")
    out: str = field("runs/train", "output folder (resumes from <out>/last)")
    batch_size: int = field(8, "items per step and process (torchrun: the global batch is N × this)")
    accum_steps: int = field(1, "gradient accumulation: micro-batches per step")
    lr: float = field(1e-3, "Adam learning rate")
    steps: int = field(100000, "stop after this many steps in all (--max-steps)")
    max_minutes: float | None = field(None, "stop, with a checkpoint, after this many minutes of this run (--max-time)")
    checkpoint_every: int = field(250, "steps between checkpoints")
    val_every: int = field(250, "steps between validations (at a checkpoint)")
    seed: int = field(0, "seed of initialisation and data stream")
    threads: int | None = field(None, "torch CPU threads")
    workers: int = field(0, "processes that make the steps' items ahead of the training step (a GPU run's data "
                            "lanes; each item is still drawn from its (seed, step, item) seeds, so the stream is the "
                            "same as with 0: made in the training process)")
    device: str = field("auto", "auto, cpu or cuda")
    amp: str = field("none", "mixed precision: none, bf16 (autocast) or fp16 (autocast + gradient scaler)")
    compile: bool = field(False, "torch.compile the network")
    recipe: str = field("robust", "training distribution of prepared data: robust (contrast, coils, noise, "
                                  "masks drawn wide; data.robust) or basic (T1, birdcage, 25-40 dB, the given R)")
    elastic: float = field(0.04, "robust recipe: largest std of the smooth nonlinear deformation, in half fields of "
                                 "view (0: affine only)")
    tissue_maps: bool = field(True, "robust recipe: tissue-class synthesis from the prepared slices' tissue "
                                    "probability maps where they have them (false: intensity classes only)")
    mask_prob: float = field(0.0, "robust recipe: share of items masked hard after the contrast draw (skull-stripped / "
                                  "background-masked images: a one-pixel object edge)")

    def __post_init__(self):
        if self.amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"amp must be none, bf16 or fp16, got {self.amp!r}")
        from mrirecon.data.robust import RECIPES

        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        if not 0.0 <= self.elastic <= 0.2:
            raise ValueError(f"elastic must be in [0, 0.2], got {self.elastic}")
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ValueError(f"mask_prob must be in [0, 1], got {self.mask_prob}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        for k in ("batch_size", "accum_steps", "steps", "checkpoint_every", "val_every"):
            if getattr(self, k) < 1:
                raise ValueError(f"{k} must be >= 1, got {getattr(self, k)}")
        if self.accum_steps > self.batch_size:
            raise ValueError(f"accum_steps ({self.accum_steps}) cannot exceed batch_size ({self.batch_size})")


class Logger:
    def __init__(self, out: Path | None, log=print):
        self._f = open(out / "train.log", "a") if out is not None else None
        self._log = log

    def __call__(self, msg: str) -> None:
        if self._f is not None:
            self._f.write(msg + "\n")
            self._f.flush()
        if self._log:
            self._log(msg)

    def close(self) -> None:
        if self._f is not None:
            self._f.close()


def distributed_env() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment (0, 1, 0 without it)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def _all_mean(x: float, world: int) -> float:
    if world == 1:
        return x
    import torch.distributed as dist

    t = torch.tensor([x], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t) / world


def _any(flag: bool, world: int) -> bool:
    if world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([int(flag)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t)


#: steps of linear lr ramp after resuming without optimizer state: fresh Adam moments make the first
#: updates ±lr per weight whatever the gradient's size, which at full lr undoes much of the training
#: (measured: the SR U-Net's mean validation gain 1.85 -> 1.27 dB after 2 such steps at lr 1e-3; with the
#: ramp and lr 1e-4 it was 1.87 dB after 100 steps)
REWARM_STEPS = 100


class _StepItems(torch.utils.data.Dataset):
    """Step ``first + k``'s items of this process (``objective.batch``) as the k-th element, for a
    ``DataLoader`` whose worker processes make them ahead of the training step, in order."""

    def __init__(self, objective, first: int, last: int, rank: int, world: int):
        self.objective, self.first, self.n, self.rank, self.world = objective, first, max(last - first, 0), rank, world

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int):
        return self.objective.batch(self.first + k, self.rank, self.world)


def step_batches(objective, first: int, last: int, rank: int, world: int, workers: int):
    """The items of steps ``first`` … ``last − 1``, one list per step: made here (``workers`` 0) or by that
    many worker processes, two steps ahead each (the same items either way: every item is drawn from
    its own seeds)."""
    if workers <= 0:
        return (objective.batch(s, rank, world) for s in range(first, last))
    loader = torch.utils.data.DataLoader(_StepItems(objective, first, last, rank, world), batch_size=None,
                                         shuffle=False, num_workers=workers, prefetch_factor=2,
                                         worker_init_fn=_leave_signals_to_main)
    return iter(loader)


def _leave_signals_to_main(_worker_id: int) -> None:
    """A data worker ignores SIGTERM / SIGINT. A scheduler (SLURM's job step) or Ctrl-C signals the whole process
    group; a worker killed by it would make the main process fail at its next step instead of stopping with a
    checkpoint (``_StopOnSignal``). The main process ends the workers when it stops, and they exit by themselves
    when it dies."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _StopOnSignal:
    """SIGTERM / SIGINT ask the loop to stop after the current step, with a checkpoint (so a preempted
    or killed run resumes where it was); the previous handlers come back afterwards. Only the main
    thread can install handlers: elsewhere this does nothing."""

    def __init__(self):
        import signal
        import threading

        self.requested, self.signal_name, self._old = False, None, {}
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        import signal

        if self.requested:  # a second signal: stop now, as the default handler would
            self.restore()
            signal.raise_signal(signum)
        self.requested, self.signal_name = True, signal.Signals(signum).name

    def restore(self):
        import signal

        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}


def train(objective, cfg: TrainConfig, log=print) -> Path:
    """Train (or resume) until ``cfg.steps`` or ``cfg.max_minutes``; returns ``<out>/best``."""
    from tqdm import tqdm

    rank, world, local = distributed_env()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if world > 1:
        import torch.distributed as dist

        if device.type == "cuda":
            device = torch.device(f"cuda:{local}")
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    main_rank = rank == 0
    out = Path(cfg.out)
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
    say = Logger(out if main_rank else None, log if main_rank else None)
    torch.manual_seed(cfg.seed)  # reproducible initialisation, identical on every rank
    model = objective.build_model().to(device)
    ema = None
    if getattr(cfg, "ema", None):
        ema = copy.deepcopy(model).eval()
        for p in ema.parameters():
            p.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"step": 0, "wall_seconds": 0.0, "history": [], "best_score": None, "config": dataclasses.asdict(cfg)}
    last = out / "last"
    rewarm_until = 0  # resumed without Adam moments: the lr ramps up again until this step
    if has_checkpoint(last):
        fresh_moments = not (last / "optim.safetensors").exists()
        state = load_checkpoint(last, model, opt, ema)
        state.setdefault("best_score", state.pop("best_psnr", None))
        rewarm_until = state["step"] + REWARM_STEPS if fresh_moments else 0
        say(f"resumed from {last} at step {state['step']}"
            + (f" (no optimizer state: Adam moments start afresh, lr ramped up over {REWARM_STEPS} steps)"
               if rewarm_until else ""))
        objective.on_resume(state, say)
        now = dataclasses.asdict(cfg)
        # compared as the checkpoint stores them (JSON: a tuple option reads back as a list)
        changed = {k: v for k, v in now.items() if state["config"].get(k) != json.loads(json.dumps(v))
                   and k not in ("out", "steps", "max_minutes", "threads", "workers", "device")}
        if changed:  # e.g. --lr-decay-steps on resume: the state (and the model card) record the run's settings
            state.setdefault("resumed_with", []).append({"step": state["step"], **changed})
            state["config"] = now
    objective.setup(device, say, rank, world)
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp == "fp16")
    step, start_step, start_wall, t_begin = state["step"], state["step"], state["wall_seconds"], time.time()
    bar = tqdm(total=cfg.steps, initial=step, desc=objective.name, dynamic_ncols=True, mininterval=30,
               disable=not main_rank or None)
    losses: list[float] = []
    samples = 0
    stream = step_batches(objective, step, cfg.steps, rank, world, cfg.workers)

    def checkpoint(validate: bool):
        wall = start_wall + time.time() - t_begin
        elapsed = max(time.time() - t_begin, 1e-9)
        rec = {"step": step, "loss": round(sum(losses) / max(len(losses), 1), 5), "wall_s": round(wall, 1),
               "s_per_step": round(elapsed / max(step - start_step, 1), 3), "samples_per_s": round(samples / elapsed, 2)}
        losses.clear()
        state.update(step=step, wall_seconds=wall)
        if main_rank:
            best_net = ema if ema is not None else model
            meta = objective.meta(state)
            if validate:
                val = objective.validate(best_net)
                rec[objective.val_key] = val
                score = objective.score(val)
                if state.get("best_score") is None or score > state["best_score"]:
                    state["best_score"] = score
                    save_model(best_net, out / "best", meta={**meta, "validation": val, **objective.best_meta(val)})
                    rec["best"] = True
            state["history"].append(rec)
            state["meta"] = meta
            save_checkpoint(last, model, opt, state, ema)
            say(json.dumps(rec))
        if world > 1:
            import torch.distributed as dist

            dist.barrier()

    stop = _StopOnSignal()  # SIGTERM (SLURM preemption, kill) / SIGINT: checkpoint, then stop
    try:
        while step < cfg.steps:
            if _any(stop.requested, world):
                if step > start_step and (not state["history"] or state["history"][-1]["step"] != step):
                    checkpoint(validate=False)
                say(f"stopped by signal {stop.signal_name} at step {step} (checkpoint in {last})")
                break
            if _any(bool(cfg.max_minutes) and time.time() - t_begin > (cfg.max_minutes or 0) * 60, world):
                if step > start_step and (not state["history"] or state["history"][-1]["step"] != step):
                    checkpoint(validate=False)  # the time limit: keep what was trained
                say(f"time limit of {cfg.max_minutes} min reached at step {step}")
                break
            items = next(stream)
            for g in opt.param_groups:
                g["lr"] = objective.lr_at(step) * (1.0 if step >= rewarm_until else
                                                   (step + 1 - rewarm_until + REWARM_STEPS) / REWARM_STEPS)
            opt.zero_grad(set_to_none=True)
            micro = objective.micro_batches(items, cfg.accum_steps)
            total = 0.0
            for mi, (mb, weight) in enumerate(micro):
                sync = contextlib.nullcontext() if world == 1 or mi == len(micro) - 1 else net.no_sync()
                with sync, torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    loss = objective.loss(net, mb) * weight
                scaler.scale(loss).backward()
                total += float(loss.detach())
            if objective.clip is not None:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(model.parameters(), objective.clip)
            scaler.step(opt)
            scaler.update()
            losses.append(_all_mean(total, world))
            if ema is not None:
                decay = min(cfg.ema, (1 + step) / (10 + step))
                with torch.no_grad():
                    for pe, pm in zip(ema.parameters(), model.parameters()):
                        pe.lerp_(pm, 1 - decay)
            step += 1
            samples += len(items) * world
            bar.update(1)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                checkpoint(validate=step % cfg.val_every == 0 or step == cfg.steps)
    finally:
        del stream  # a worker pool ends with its iterator
        stop.restore()
        bar.close()
        say.close()
        if world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    return out / "best"
