"""Training of the diffusion prior ε_θ: ε-prediction MSE, EMA weights, resumable checkpoints.

Checkpoints (``mrirecon.models.checkpoint``) hold raw and EMA weights, Adam moments and a JSON
state — no pickle. ``train_prior`` resumes from ``<out>/last`` when it exists, so
training spans several runs and machines.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import time
from pathlib import Path

import torch

from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
from mrirecon.models.checkpoint import TrainingRun, has_checkpoint, load_checkpoint, optimizer_step, save_checkpoint


@dataclasses.dataclass
class PriorTrainConfig:
    data: str = "data/prepared"
    size: int = 128
    out: str = "runs/prior"
    channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention: bool = False
    batch_size: int = 8
    crop: int = 64
    lr: float = 5e-4
    warmup: int = 200
    ema: float = 0.999
    steps: int = 100000
    max_minutes: float | None = None
    checkpoint_every: int = 250
    t_sampling: str = "mixed"  # "uniform" | "mixed" (half uniform, half on t < low_frac·T) | "low"
    low_frac: float = 0.25
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    val_every: int = 1000


def sample_timesteps(n: int, T: int, mode: str, low_frac: float, generator: torch.Generator) -> torch.Tensor:
    """Training timesteps: uniform over [0, T), or weighted toward the low-noise levels CCDF uses."""
    uni = torch.randint(0, T, (n,), generator=generator)
    low = torch.randint(0, max(int(low_frac * T), 1), (n,), generator=generator)
    if mode == "uniform":
        return uni
    if mode == "low":
        return low
    if mode == "mixed":
        pick = torch.rand(n, generator=generator) < 0.5
        return torch.where(pick, low, uni)
    raise ValueError(f"unknown t_sampling {mode!r}: uniform, mixed or low")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@torch.no_grad()
def denoise_psnr(model, schedule: VPSchedule, images: torch.Tensor, ts=(20, 50, 100, 200, 400), seed: int = 0) -> dict:
    """One-step denoising PSNR (dB, on the complex image) of x̂0(x_t) at several t, on fixed images."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    dev = next(model.parameters()).device
    for t in ts:
        noise = torch.randn(images.shape, generator=g)
        xt = schedule.q_sample(images, t, noise).to(dev)
        eps = model(xt, torch.full((len(xt),), t, device=dev))
        x0 = schedule.predict_x0(xt, t, eps).cpu()
        mse = (x0 - images).pow(2).mean().item()
        out[int(t)] = round(10 * math.log10(images.abs().amax().item() ** 2 / mse), 3)
    return out


def train_prior(cfg: PriorTrainConfig, log=print) -> Path:
    from tqdm import tqdm

    from mrirecon.data.datasets import PriorBatches
    from mrirecon.data.prepare import load_split
    from mrirecon.models.prior import PriorUNet

    run = TrainingRun(cfg.out, cfg.threads, cfg.device, log)
    device, out, say = run.device, run.out, run.say

    train = load_split(cfg.data, "train", cfg.size)
    val = load_split(cfg.data, "val", cfg.size)
    schedule = VPSchedule(ScheduleConfig())
    torch.manual_seed(cfg.seed)  # reproducible initialisation
    model = PriorUNet(cfg.channels, cfg.layers_per_block, cfg.attention).to(device)
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"step": 0, "wall_seconds": 0.0, "history": [], "config": dataclasses.asdict(cfg)}
    last = out / "last"
    if has_checkpoint(last):
        state = load_checkpoint(last, model, opt, ema)
        say(f"resumed from {last} at step {state['step']}")
    # fixed validation batch for the denoising curve (64x64 centre crops of 16 validation slices)
    vidx = torch.linspace(0, len(val) - 1, 16).long()
    vb = PriorBatches(val[vidx.numpy()], batch_size=16, crop=cfg.crop, seed=1234, affine=False, intensity=(1, 1))
    val_images = vb.sample()
    data = PriorBatches(train, cfg.batch_size, cfg.crop, seed=cfg.seed)
    tg = torch.Generator().manual_seed(cfg.seed + 1)
    start_step, start_wall = state["step"], state["wall_seconds"]
    t_begin = time.time()
    bar = tqdm(total=cfg.steps, initial=start_step, desc="prior", dynamic_ncols=True, mininterval=30)
    losses = []
    step = start_step
    while step < cfg.steps:
        if cfg.max_minutes and time.time() - t_begin > cfg.max_minutes * 60:
            break
        # reseed per step: a resumed run sees the same stream as an uninterrupted one
        data.reseed(cfg.seed * 1_000_003 + step)
        tg.manual_seed(cfg.seed * 7_000_003 + step)
        x0 = data.sample().to(device)
        t = sample_timesteps(len(x0), schedule.T, cfg.t_sampling, cfg.low_frac, tg).to(device)
        noise = torch.randn(x0.shape, generator=tg).to(device)
        xt = schedule.q_sample(x0, t.cpu(), noise)  # ᾱ is indexed on the CPU, then moved to x0's device
        loss = (model(xt, t) - noise).pow(2).mean()
        for gparam in opt.param_groups:
            gparam["lr"] = cfg.lr * min(1.0, (step + 1) / max(cfg.warmup, 1))
        loss_value = optimizer_step(opt, loss, clip=1.0)
        decay = min(cfg.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)
        step += 1
        losses.append(loss_value)
        bar.update(1)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            wall = start_wall + time.time() - t_begin
            rec = {"step": step, "loss": round(sum(losses) / len(losses), 5), "wall_s": round(wall, 1),
                   "s_per_step": round((time.time() - t_begin) / max(step - start_step, 1), 3)}
            if step % cfg.val_every == 0:
                rec["denoise_psnr"] = denoise_psnr(ema, schedule, val_images)
            state["history"].append(rec)
            state["step"], state["wall_seconds"] = step, wall
            state["meta"] = {"trained_steps": step, "wall_seconds": round(wall, 1), "t_sampling": cfg.t_sampling,
                             "data": "prepared packaged T1 volumes (train split)", "schedule": dataclasses.asdict(schedule.config)}
            save_checkpoint(last, model, opt, state, ema)
            say(json.dumps(rec))
            losses = []
    bar.close()
    run.close()
    return last
