"""Training of the feed-forward U-Net initializer (fastMRI baseline recipe, on our data).

Masks are drawn on the fly (fastMRI random masks, R ∈ {4, 8} with centre fractions 0.08 / 0.04),
half the items single-coil and half 4–12-coil SENSE-combined; L1 (or 1−SSIM) loss; validation
PSNR/SSIM at R=4 and R=8 on fixed validation masks every ``val_every`` steps; ``best/`` keeps the
best validation PSNR in the shipping layout with the validation figures and the initializer's
error ``eps0`` (used by CCDF's automatic t0); ``last/`` resumes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from mrirecon.models.checkpoint import TrainingRun, has_checkpoint, load_checkpoint, optimizer_step, save_checkpoint
from mrirecon.models.io import save_model


@dataclasses.dataclass
class UNetTrainConfig:
    data: str = "data/prepared"
    size: int = 128
    out: str = "runs/unet"
    chans: int = 16
    num_pool_layers: int = 4
    batch_size: int = 8
    lr: float = 1e-3
    lr_decay_steps: int = 6000  # lr × 0.1 after this many steps
    steps: int = 100000
    max_minutes: float | None = None
    val_every: int = 250
    val_slices: int = 48
    loss: str = "l1"  # l1 | ssim
    accelerations: tuple[int, ...] = (4, 8)
    center_fractions: tuple[float, ...] = (0.08, 0.04)
    multicoil_prob: float = 0.5
    input_mode: str = "sense"  # multi-coil input: "sense" (CG-SENSE) or "adjoint" (A^H y)
    sense_mu: float = 0.01
    sense_iters: int = 10
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    workers: int = 0


def ssim_loss(x: torch.Tensor, y: torch.Tensor, win: int = 7) -> torch.Tensor:
    """1 − SSIM on magnitudes (fastMRI's SSIMLoss form), x, y: (batch, 1, H, W)."""
    k = torch.ones(1, 1, win, win, device=x.device) / win ** 2
    dr = y.flatten(1).amax(1)[:, None, None, None]
    c1, c2 = (0.01 * dr) ** 2, (0.03 * dr) ** 2
    conv = lambda t: torch.nn.functional.conv2d(t, k)  # noqa: E731
    ux, uy = conv(x), conv(y)
    n = win * win
    cov = n / (n - 1)
    vx, vy, vxy = cov * (conv(x * x) - ux * ux), cov * (conv(y * y) - uy * uy), cov * (conv(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    return 1 - s.mean()


@torch.no_grad()
def validate(model, loaders: dict, device) -> dict:
    from mrirecon.eval.metrics import evaluate_volume

    model.eval()
    out = {}
    for name, loader in loaders.items():
        preds, tgts, zfs = [], [], []
        for inp, tgt in loader:
            pred = model(inp.to(device)).cpu()
            preds.append(torch.complex(pred[:, 0], pred[:, 1]).abs())
            tgts.append(torch.complex(tgt[:, 0], tgt[:, 1]).abs())
            zfs.append(torch.complex(inp[:, 0], inp[:, 1]).abs())
        p, t, z = torch.cat(preds).numpy(), torch.cat(tgts).numpy(), torch.cat(zfs).numpy()
        m = evaluate_volume(t, p)
        mz = evaluate_volume(t, z)
        # eps0: mean squared error per pixel of the complex estimate at the networks' scale
        out[name] = {"PSNR": round(m["PSNR"], 3), "SSIM": round(m["SSIM"], 4), "NMSE": round(m["NMSE"], 5),
                     "zf_PSNR": round(mz["PSNR"], 3), "mse_mag": float(np.mean((p - t) ** 2))}
    model.train()
    return out


def train_unet(cfg: UNetTrainConfig, log=print) -> Path:
    from tqdm import tqdm

    from mrirecon.data.datasets import UNetSliceDataset
    from mrirecon.data.masks import RandomMaskFunc
    from mrirecon.data.prepare import load_split
    from mrirecon.models.unet import UNet

    run = TrainingRun(cfg.out, cfg.threads, cfg.device, log)
    device, out, say = run.device, run.out, run.say

    train = load_split(cfg.data, "train", cfg.size)
    val = load_split(cfg.data, "val", cfg.size)
    vidx = np.linspace(0, len(val) - 1, cfg.val_slices).astype(int)
    sense = {"mu": cfg.sense_mu, "iters": cfg.sense_iters} if cfg.input_mode == "sense" else None
    input_meta = {"mode": cfg.input_mode, **(sense or {})}
    ds = UNetSliceDataset(train, RandomMaskFunc(list(cfg.center_fractions), list(cfg.accelerations)), seed=cfg.seed,
                          multicoil_prob=cfg.multicoil_prob, sense=sense)
    loaders = {}
    for acc, cf in zip(cfg.accelerations, cfg.center_fractions):
        vds = UNetSliceDataset(val[vidx], RandomMaskFunc([cf], [acc]), fixed_masks=True, augment=False,
                               multicoil_prob=cfg.multicoil_prob, sense=sense)
        loaders[f"R{acc}"] = torch.utils.data.DataLoader(vds, batch_size=16)
    torch.manual_seed(cfg.seed)  # reproducible initialisation
    model = UNet(chans=cfg.chans, num_pool_layers=cfg.num_pool_layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"step": 0, "epoch": 0, "wall_seconds": 0.0, "history": [], "best_psnr": -1.0,
             "config": dataclasses.asdict(cfg)}
    last = out / "last"
    if has_checkpoint(last):
        state = load_checkpoint(last, model, opt)
        say(f"resumed from {last} at step {state['step']}")
        if state["config"].get("input_mode", "adjoint") != cfg.input_mode:
            # the input definition changed: fine-tune from here, and select the best anew
            say(f"input mode {state['config'].get('input_mode', 'adjoint')} -> {cfg.input_mode} at step "
                f"{state['step']}: best-checkpoint selection restarts")
            state["best_psnr"] = -1.0
            state.setdefault("switches", []).append({"step": state["step"], "input_mode": cfg.input_mode})
            state["config"] = dataclasses.asdict(cfg)
    step, t_begin, start_wall = state["step"], time.time(), state["wall_seconds"]
    bar = tqdm(total=cfg.steps, initial=step, desc="unet", dynamic_ncols=True, mininterval=30)
    losses = []
    while step < cfg.steps:
        ds.epoch = state["epoch"]
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + state["epoch"])
        loader = torch.utils.data.DataLoader(ds, batch_size=cfg.batch_size, shuffle=True, generator=gen,
                                             num_workers=cfg.workers, drop_last=True)
        skip = step % max(len(loader), 1)  # resume mid-epoch: skip batches already seen
        for bi, (inp, tgt) in enumerate(loader):
            if bi < skip:
                continue
            if step >= cfg.steps or (cfg.max_minutes and time.time() - t_begin > cfg.max_minutes * 60):
                break
            inp, tgt = inp.to(device), tgt.to(device)
            for gparam in opt.param_groups:
                gparam["lr"] = cfg.lr * (0.1 if step >= cfg.lr_decay_steps else 1.0)
            pred = model(inp)
            if cfg.loss == "ssim":
                mag = lambda t: torch.sqrt(t[:, :1] ** 2 + t[:, 1:] ** 2 + 1e-12)  # noqa: E731
                loss = ssim_loss(mag(pred), mag(tgt)) + 0.1 * (pred - tgt).abs().mean()
            else:
                loss = (pred - tgt).abs().mean()
            losses.append(optimizer_step(opt, loss))
            step += 1
            bar.update(1)
            if step % cfg.val_every == 0 or step == cfg.steps:
                wall = start_wall + time.time() - t_begin
                val_res = validate(model, loaders, device)
                mean_psnr = float(np.mean([v["PSNR"] for v in val_res.values()]))
                rec = {"step": step, "epoch": state["epoch"], "loss": round(float(np.mean(losses)), 5),
                       "wall_s": round(wall, 1), "val": val_res}
                losses = []
                state["history"].append(rec)
                state.update(step=step, wall_seconds=wall)
                if mean_psnr > state["best_psnr"]:
                    state["best_psnr"] = mean_psnr
                    eps0 = {k: v["mse_mag"] for k, v in val_res.items()}
                    save_model(model, out / "best", meta={
                        "trained_steps": step, "wall_seconds": round(wall, 1), "validation": val_res,
                        "input": input_meta, "eps0": eps0, "eps0_mean": float(np.mean(list(eps0.values()))), "data": "prepared packaged T1 volumes (train split), val: Colin27",
                        "masks": f"fastMRI random R={list(cfg.accelerations)} cf={list(cfg.center_fractions)}"})
                    rec["best"] = True
                save_checkpoint(last, model, opt, state)
                say(json.dumps(rec))
            if step % 50 == 0:
                # a light checkpoint between validations so a kill loses little
                save_checkpoint(last, model, opt, state | {"step": step, "wall_seconds": start_wall + time.time() - t_begin})
        else:
            state["epoch"] += 1
            continue
        break
    bar.close()
    run.close()
    return out / "best"
