"""Test-time self-adaptation of the SR U-Net to one volume (SMORE, Zhao et al. 2020).

A thick-slice volume is low-resolution along one axis only: its planes *perpendicular* to that axis
are high-resolution in both of their axes. Degrading those planes along one in-plane axis, with the
same factor and degradation model as the slice axis, gives training pairs of this volume's own
contrast, noise and anatomy — what through-plane SR then applies to the orthogonal planes. The
shipped network is fine-tuned on those pairs for a few steps (L1, Adam, the pairs it was trained on:
``physics.sr.training_pair``) and kept only where it does better on held-out planes of the same volume: the
decision is read from the data, not tuned.

``adapt_sr_network`` never modifies the network it is given; it returns an adapted copy (or the
network itself when adaptation did not help or the volume is too small to validate it).
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import torch

from mrirecon.physics.sr import training_pair


@dataclasses.dataclass
class AdaptReport:
    """What one adaptation did: steps run, held-out L1 before / after (peak-normalised), kept or not."""
    steps: int
    train_planes: int
    val_planes: int
    val_l1_before: float
    val_l1_after: float
    kept: bool
    seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _val_pairs(planes: torch.Tensor, factor: int, degradation: str):
    """Held-out pairs: every validation plane cropped to a multiple of ``factor`` on both axes,
    degraded along each in-plane axis in turn."""
    h, w = (s // factor * factor for s in planes.shape[-2:])
    hr = planes[:, :h, :w]
    return [training_pair(hr, fs, degradation) for fs in ((factor, 1), (1, factor))]


@torch.no_grad()
def _val_l1(model, pairs, device) -> float:
    tot, n = 0.0, 0
    for up, hr in pairs:
        pred = model(up.to(device)).cpu()
        tot += float((pred - hr).abs().sum())
        n += hr.numel()
    return tot / max(n, 1)


def adapt_sr_network(model, planes, factor: int, degradation: str = "box", *, steps: int = 200, lr: float = 1e-4,
                     batch_size: int = 8, crop: int = 64, val_fraction: float = 0.2, seed: int = 0,
                     progress: bool = False) -> tuple[torch.nn.Module, AdaptReport]:
    """Fine-tune a copy of the SR U-Net ``model`` on ``planes`` ``(n, H, W)`` (high-resolution along both
    axes) degraded along one random axis by ``factor`` with ``degradation``; ``(network, report)``.

    A fifth of the planes (evenly spaced, at least one) is held out; the copy is returned only if its
    held-out L1 is lower than the original's, else the original network comes back unchanged."""
    import time

    from tqdm import tqdm

    t0 = time.time()
    x = torch.as_tensor(np.asarray(planes, np.float32))
    if x.ndim != 3:
        raise ValueError(f"adapt_sr_network: expected planes (n, H, W), got shape {tuple(x.shape)}")
    if factor < 2:
        raise ValueError(f"adapt_sr_network: factor must be >= 2, got {factor}")
    if not torch.isfinite(x).all():
        raise ValueError("adapt_sr_network: the planes contain non-finite values")
    keep = x.flatten(1).amax(1) > 1e-6 * float(x.max().clamp_min(1e-30))  # drop empty planes
    x = x[keep]
    n = len(x)
    c = min(crop, min(x.shape[-2:])) // factor * factor
    if n < 2 or c < 2 * factor or steps <= 0:
        return model, AdaptReport(0, n, 0, float("nan"), float("nan"), False, round(time.time() - t0, 2))
    n_val = max(1, int(round(n * val_fraction)))
    val_idx = np.unique(np.linspace(0, n - 1, n_val + 2)[1:-1].round().astype(int))
    train_idx = np.setdiff1d(np.arange(n), val_idx)
    val = _val_pairs(x[val_idx], factor, degradation)
    train = x[train_idx]
    device = next(model.parameters()).device
    before = _val_l1(model, val, device)

    net = copy.deepcopy(model).float().train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(int(seed))
    best, best_state = before, None
    checks = sorted({max(1, steps * k // 4) for k in range(1, 5)})
    for step in tqdm(range(1, steps + 1), desc=f"adapting SR U-Net x{factor}", unit="step", disable=not progress,
                     leave=False):
        idx = torch.randint(0, len(train), (batch_size,), generator=g)
        crops = []
        for i in idx.tolist():
            p = train[i]
            top = int(torch.randint(0, p.shape[-2] - c + 1, (1,), generator=g))
            left = int(torch.randint(0, p.shape[-1] - c + 1, (1,), generator=g))
            q = p[top:top + c, left:left + c]
            if bool(torch.rand(1, generator=g) < 0.5):
                q = q.flip(-1)
            if bool(torch.rand(1, generator=g) < 0.5):
                q = q.flip(-2)
            crops.append(q)
        hr = torch.stack(crops)
        fs = (factor, 1) if bool(torch.rand(1, generator=g) < 0.5) else (1, factor)
        up, hr = training_pair(hr, fs, degradation)
        loss = (net(up.to(device)) - hr.to(device)).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in checks:
            net.eval()
            v = _val_l1(net, val, device)
            net.train()
            if v < best:
                best, best_state = v, copy.deepcopy(net.state_dict())
    report = AdaptReport(steps, len(train_idx), len(val_idx), round(before, 6), round(best, 6),
                         best_state is not None, round(time.time() - t0, 2))
    if best_state is None:
        return model, report
    net.load_state_dict(best_state)
    net.eval()  # a deep copy: it keeps the original's meta (task, training facts)
    return net, report
