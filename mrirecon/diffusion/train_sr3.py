"""SR3 training: L1 on ε with the continuous noise level √γ ~ U(√ᾱ_t, √ᾱ_{t−1}) as in SR3.

HR/LR pairs come from the prepared slices (magnitude; ×2 and ×4 mixed per batch, random crops);
the condition is the bicubic upsampling of the block-averaged LR image. Resumable like the prior.
"""

from __future__ import annotations

import dataclasses
import json
import time

import torch

from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
from mrirecon.models.checkpoint import TrainingRun, has_checkpoint, load_checkpoint, optimizer_step, save_checkpoint
from mrirecon.models.io import save_model


@dataclasses.dataclass
class SR3TrainConfig:
    data: str = "data/prepared"
    size: int = 128
    out: str = "runs/sr3"
    channels: tuple[int, ...] = (32, 64, 64)
    scales: tuple[int, ...] = (2, 4)
    batch_size: int = 8
    crop: int = 64
    lr: float = 2e-4
    steps: int = 100000
    max_minutes: float | None = None
    checkpoint_every: int = 250
    loss: str = "l1"
    seed: int = 0
    threads: int | None = None
    device: str = "auto"


def sample_sqrt_gamma(schedule: VPSchedule, n: int, g: torch.Generator) -> torch.Tensor:
    t = torch.randint(0, schedule.T, (n,), generator=g)
    hi = schedule.alpha_bar(t - 1).sqrt()
    lo = schedule.alpha_bar(t).sqrt()
    return (lo + torch.rand(n, generator=g, dtype=torch.float64) * (hi - lo)).float()


def train_sr3(cfg: SR3TrainConfig, log=print):
    from tqdm import tqdm

    from mrirecon.data.datasets import SRPairs
    from mrirecon.data.prepare import load_split
    from mrirecon.models.sr3 import SR3Net

    run = TrainingRun(cfg.out, cfg.threads, cfg.device, log)
    device, out, say = run.device, run.out, run.say
    train = load_split(cfg.data, "train", cfg.size)
    schedule = VPSchedule(ScheduleConfig())
    torch.manual_seed(cfg.seed)  # reproducible initialisation
    model = SR3Net(cfg.channels).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"step": 0, "wall_seconds": 0.0, "history": [], "config": dataclasses.asdict(cfg)}
    last = out / "last"
    if has_checkpoint(last):
        state = load_checkpoint(last, model, opt)
        say(f"resumed from {last} at step {state['step']}")
    pairs = {s: SRPairs(train, s, cfg.batch_size, cfg.crop, seed=cfg.seed) for s in cfg.scales}
    g = torch.Generator()
    step, t_begin, start_wall, losses = state["step"], time.time(), state["wall_seconds"], []
    bar = tqdm(total=cfg.steps, initial=step, desc="sr3", mininterval=30)
    while step < cfg.steps:
        if cfg.max_minutes and time.time() - t_begin > cfg.max_minutes * 60:
            break
        g.manual_seed(cfg.seed * 7_000_003 + step)
        scale = cfg.scales[step % len(cfg.scales)]
        pairs[scale].generator.manual_seed(cfg.seed * 1_000_003 + step)
        up, hr = pairs[scale].sample()
        peak = hr.flatten(1).amax(1).clamp_min(1e-6)[:, None, None, None]
        up, hr = (up / peak).to(device), (hr / peak).to(device)
        sg = sample_sqrt_gamma(schedule, len(hr), g).to(device)
        noise = torch.randn(hr.shape, generator=g).to(device)
        x = sg[:, None, None, None] * hr + (1 - sg ** 2).sqrt()[:, None, None, None] * noise
        pred = model(x, up, sg)
        loss = (pred - noise).abs().mean() if cfg.loss == "l1" else (pred - noise).pow(2).mean()
        losses.append(optimizer_step(opt, loss))
        step += 1
        bar.update(1)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            wall = start_wall + time.time() - t_begin
            rec = {"step": step, "loss": round(sum(losses) / len(losses), 5), "wall_s": round(wall, 1)}
            losses = []
            state["history"].append(rec)
            state.update(step=step, wall_seconds=wall)
            save_checkpoint(last, model, opt, state)
            save_model(model, out / "model", meta={"trained_steps": step, "wall_seconds": round(wall, 1),
                                                    "schedule": dataclasses.asdict(schedule.config),
                                                    "scales": list(cfg.scales)})
            say(json.dumps(rec))
    bar.close()
    run.close()
    return out / "model"
