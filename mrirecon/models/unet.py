"""fastMRI-style U-Net (Ronneberger et al. as in fastMRI's baseline) on complex images as 2 channels.

Conv blocks: two 3×3 convolutions, instance norm, LeakyReLU(0.2), dropout; 2×2 average-pool down,
transpose-conv up. Input is normalised by its per-image mean / std and the network predicts a
residual, so the output is a complex image estimate (phase kept). ``cond_chans`` extra input channels
(after the image channels) are conditioning maps — the noise level, ``network_input`` — that reach the
first convolution as they are (not normalised, not part of the residual). Any image size works: inputs are
reflect-padded to a multiple of ``2**num_pool_layers`` (at least twice it; replicate-padded when the
image is smaller than the pad) and cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mrirecon.models.boundary import complex_to_channels
from mrirecon.models.io import register


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, drop: float):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2, True),
            nn.Dropout2d(drop),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.InstanceNorm2d(cout), nn.LeakyReLU(0.2, True),
            nn.Dropout2d(drop),
        )

    def forward(self, x):
        return self.layers(x)


class UpBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.layers = nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False), nn.InstanceNorm2d(cout),
                                    nn.LeakyReLU(0.2, True))

    def forward(self, x):
        return self.layers(x)


@register("unet")
class UNet(nn.Module):
    def __init__(self, in_chans: int = 2, out_chans: int = 2, chans: int = 32, num_pool_layers: int = 4,
                 drop_prob: float = 0.0, residual: bool = True, cond_chans: int = 0):
        super().__init__()
        self._config = dict(in_chans=in_chans, out_chans=out_chans, chans=chans, num_pool_layers=num_pool_layers,
                            drop_prob=drop_prob, residual=residual, cond_chans=cond_chans)
        self.residual = residual and in_chans == out_chans
        self.in_chans, self.cond_chans = in_chans, cond_chans
        self.down = nn.ModuleList([ConvBlock(in_chans + cond_chans, chans, drop_prob)])
        ch = chans
        for _ in range(num_pool_layers - 1):
            self.down.append(ConvBlock(ch, ch * 2, drop_prob))
            ch *= 2
        self.bottom = ConvBlock(ch, ch * 2, drop_prob)
        self.up_t, self.up_conv = nn.ModuleList(), nn.ModuleList()
        for i in range(num_pool_layers):
            self.up_t.append(UpBlock(ch * 2, ch))
            last = i == num_pool_layers - 1
            self.up_conv.append(ConvBlock(ch * 2, ch, drop_prob) if not last else
                                nn.Sequential(ConvBlock(ch * 2, ch, drop_prob), nn.Conv2d(ch, out_chans, 1)))
            ch //= 2
        self.multiple = 2 ** num_pool_layers

    def config_dict(self) -> dict:
        return dict(self._config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, 2 [+ cond_chans], H, W) real (real, imag of the input image [, conditioning maps])
        → (batch, 2, H, W)."""
        cond = x[:, self.in_chans:] if self.cond_chans else None
        x = x[:, :self.in_chans]
        b, c, h, w = x.shape
        mean = x.reshape(b, c, -1).mean(-1)[..., None, None]
        std = x.reshape(b, -1).std(-1).clamp_min(1e-8)[:, None, None, None]
        z = (x - mean) / std
        if cond is not None:
            z = torch.cat([z, cond.to(z.dtype)], 1)
        m = self.multiple
        # padded to a multiple of 2**levels, and to at least 2 of them so the bottleneck keeps more than one
        # pixel per axis (instance norm needs it): tiny images work too
        ph, pw = max(-h % m, 2 * m - h), max(-w % m, 2 * m - w)
        if ph or pw:
            small = max(ph - ph // 2, pw - pw // 2) >= min(h, w)  # reflect needs the pad below the size
            z = F.pad(z, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), mode="replicate" if small else "reflect")
        skips = []
        out = z
        for layer in self.down:
            out = layer(out)
            skips.append(out)
            out = F.avg_pool2d(out, 2)
        out = self.bottom(out)
        for t, conv in zip(self.up_t, self.up_conv):
            out = t(out)
            out = conv(torch.cat([out, skips.pop()], 1))
        out = out[..., ph // 2:ph // 2 + h, pw // 2:pw // 2 + w]
        if self.residual:
            out = out + z[:, :c, ph // 2:ph // 2 + h, pw // 2:pw // 2 + w]
        return out * std + mean


#: the noise-conditioning map's value: (log10 σ_n + NOISE_COND_OFFSET) / NOISE_COND_SPAN, σ_n the k-space
#: noise σ over the input's peak, floored at NOISE_COND_FLOOR (noiseless data) — about −1 … 1 over 15 dB …
#: noiseless
NOISE_COND_OFFSET, NOISE_COND_SPAN, NOISE_COND_FLOOR = 3.0, 2.0, 1e-5


def noise_condition(physics, y: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``(batch,)`` conditioning value of the noise level: the operator's ``noise_sigma`` (a noise scan
    or the engine's estimate) or else the estimate from ``y`` — what inference can know, never the
    simulation's true σ — relative to the input's peak ``scale``, on a log scale."""
    s = physics.noise_level(y)
    if s is None:
        raise ValueError("a noise-conditioned U-Net needs the noise level, which this operator neither has nor can "
                         "estimate: set it with physics.with_noise(sigma)")
    s = s.to(scale.device)
    rel = (s / scale.float()).clamp_min(NOISE_COND_FLOOR)
    return (rel.log10() + NOISE_COND_OFFSET) / NOISE_COND_SPAN


def network_input(physics, y: torch.Tensor, spec: dict | None, info: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The U-Net's input channels ``(batch, 2 [+ 1], H, W)`` and the scale ``(batch,)``: the image of
    ``prepare_input`` as (real, imaginary) channels, and with ``spec["noise_cond"]`` a constant map of
    ``noise_condition``. Training and inference both call this."""
    xin, scale = prepare_input(physics, y, spec, info)
    return input_channels(physics, y, xin, scale, spec), scale


def input_channels(physics, y: torch.Tensor, xin: torch.Tensor, scale: torch.Tensor, spec: dict | None) -> torch.Tensor:
    """The network's channels of a peak-normalised input image ``xin`` whose peak was ``scale``: (real,
    imaginary), and with ``spec["noise_cond"]`` the constant ``noise_condition`` map of ``y``."""
    ch = complex_to_channels(xin)
    if spec and spec.get("noise_cond"):
        c = noise_condition(physics, y, scale).to(ch.dtype)
        ch = torch.cat([ch, c[:, None, None, None].expand(-1, 1, *ch.shape[-2:])], 1)
    return ch


def sense_input_mu(spec: dict, sigma_n: torch.Tensor | None) -> torch.Tensor | float:
    """The CG-SENSE input's Tikhonov weight: ``spec["mu"]``, raised for data noisier than the network's
    training inputs when ``spec`` has ``sigma_ref`` — μ = mu · max(1, (σ_n / sigma_ref)²) per item,
    σ_n the k-space noise over the peak of the ``mu`` image.

    A Tikhonov (Wiener) weight grows with the noise variance. ``sigma_ref`` is the upper end (95th
    percentile) of σ_n over the network's multi-coil training inputs (``input_noise_reference``).
    Inside that range the input is exactly what training made. Beyond it the weight grows with σ_n², so
    the input's noise stays near what the network learnt to remove, instead of g-factor-amplified noise
    it has never seen. The weight is never lowered below ``mu`` — unless ``spec`` has ``mu_min`` (a
    network trained so): then μ = mu · (σ_n / sigma_ref)² both ways, clamped to ``[mu_min, ∞)``, so
    cleaner data get a less regularised input that keeps the detail a fixed weight smooths away
    (the weight of a Wiener / MAP estimate is proportional to the noise variance)."""
    mu = float(spec.get("mu", 0.01))
    ref = spec.get("sigma_ref")
    if not ref or sigma_n is None:
        return mu
    ratio2 = (sigma_n.float() / float(ref)).pow(2)
    if spec.get("mu_min") is not None:
        return (mu * ratio2).clamp_min(float(spec["mu_min"]))
    return mu * ratio2.clamp_min(1.0)


def prepare_input(physics, y: torch.Tensor, spec: dict | None, info: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The U-Net's input for measurement ``y`` — the ONE function training and inference share.

    ``spec`` is the network's ``meta["input"]``: ``{"mode": "sense", "mu": μ, "iters": n}`` makes
    the input of multi-coil data the CG-SENSE image argmin ‖Ax − y‖² + μ‖x‖² (parallel imaging
    unfolds the aliasing first); with ``"sigma_ref"`` as well, μ follows the noise above that level
    (``sense_input_mu``); otherwise (and for single-coil data) the input is ``physics.init(y)``.
    Returns ``(x_in / scale, scale)`` with ``scale`` ``(batch,)`` the peak magnitude of ``x_in``;
    ``info`` (a dict), when given, receives the CG-SENSE weight per item (``input_mu``).
    """
    if spec and spec.get("mode") == "sense" and physics.num_coils > 1:
        x0 = torch.zeros_like(physics.adjoint(y))
        iters, base = int(spec.get("iters", 10)), float(spec.get("mu", 0.01))
        xin = physics.cg_solve(y, x0, base, iters)
        mus = [base] * y.shape[0]
        s = physics.noise_level(y) if spec.get("sigma_ref") else None
        if s is not None:
            raised = sense_input_mu(spec, s / xin.abs().flatten(1).amax(1).clamp_min(1e-12))
            if bool((raised != base).any()):
                mus = raised.tolist()
                xin = physics.cg_solve(y, x0, raised, iters)
        if info is not None:
            info["input_mu"] = mus
    else:
        xin = physics.init(y)
    scale = xin.abs().flatten(1).amax(1).clamp_min(1e-12)
    return xin / scale.reshape(-1, *([1] * (xin.dim() - 1))), scale


def input_noise_reference(items, q: float = 95.0) -> float:
    """``sigma_ref`` of ``sense_input_mu`` for a training distribution: the ``q``-th percentile of
    σ_n (k-space noise over the peak of the CG-SENSE input) over ``items``, an iterable of
    ``(physics, y, spec)`` multi-coil training measurements (``spec`` without ``sigma_ref``)."""
    import numpy as np

    vals = []
    for physics, y, spec in items:
        s = physics.noise_level(y)
        if s is None or physics.num_coils == 1:
            continue
        _, scale = prepare_input(physics, y, {k: v for k, v in (spec or {}).items() if k != "sigma_ref"})
        vals.extend((s / scale).tolist())
    if not vals:
        raise ValueError("input_noise_reference: no multi-coil item with a noise level")
    return float(np.percentile(np.asarray(vals), q))


def widen(model: UNet, chans: int, noise: float = 0.05, generator: torch.Generator | None = None) -> UNet:
    """``model`` widened to ``chans`` first-level channels (every level in proportion), computing the same
    function (Net2WiderNet, Chen et al. 2016): each new channel copies an existing one (the first
    ``old`` channels are the old ones, the extra ones repeat them in order), and the next layer's weights
    of a channel copied n times are split among the n copies. The split is 1/n each plus a zero-sum
    perturbation of relative size ``noise``, so the copies get different gradients and part during
    training while the function stays the same (exact up to rounding: instance norm has no parameters
    and sees identical copies). The first convolution's input and the last 1×1 convolution's output
    are unchanged."""
    cfg = model.config_dict()
    old = cfg["chans"]
    if chans < old:
        raise ValueError(f"widen: {chans} channels is fewer than the network's {old}")
    new = UNet(**{**cfg, "chans": chans})
    g = generator or torch.Generator().manual_seed(0)

    def mapping(n_old: int, n_new: int) -> torch.Tensor:  # new channel -> old channel it copies
        return torch.arange(n_new) % n_old

    def split(w: torch.Tensor, m: torch.Tensor, dim: int) -> torch.Tensor:
        """Input channels along ``dim`` of ``w`` (old) taken through mapping ``m``, each divided among its
        copies with a zero-sum perturbation."""
        w = w.index_select(dim, m)
        counts = torch.bincount(m, minlength=int(m.max()) + 1).to(w.dtype)
        frac = (1.0 / counts)[m]
        shape = [1] * w.dim()
        shape[dim] = -1
        eps = noise * torch.randn(w.shape, generator=g, dtype=w.dtype) * frac.reshape(shape)
        # zero sum over the copies of each old channel: subtract each group's mean perturbation
        idx = m.reshape(shape).expand_as(w)
        mean = torch.zeros(*w.shape[:dim], int(m.max()) + 1, *w.shape[dim + 1:], dtype=w.dtype)
        mean.scatter_add_(dim, idx, eps)
        mean = mean / counts.reshape(shape)
        eps = eps - mean.gather(dim, idx)
        return w * frac.reshape(shape) + eps * w.abs()

    def conv(w: torch.Tensor, m_in: torch.Tensor | None, m_out: torch.Tensor | None, transposed=False):
        i_dim, o_dim = (0, 1) if transposed else (1, 0)
        if m_out is not None:
            w = w.index_select(o_dim, m_out)
        if m_in is not None:
            w = split(w, m_in, i_dim)
        return w

    levels = cfg["num_pool_layers"]

    def m_for(width_old: int) -> torch.Tensor:  # one mapping per level: a level's layers and its skip copy alike
        return mapping(width_old, width_old * chans // old)

    sd_old = model.state_dict()
    sd = dict(sd_old)  # the last convolution's bias (and nothing else) is kept as it is
    w_old = sd_old.__getitem__
    cin = None  # mapping of the current input (None: the network's input channels, unchanged)
    for lvl in range(levels):
        width = old * 2 ** lvl
        m = m_for(width)
        sd[f"down.{lvl}.layers.0.weight"] = conv(w_old(f"down.{lvl}.layers.0.weight"), cin, m)
        sd[f"down.{lvl}.layers.4.weight"] = conv(w_old(f"down.{lvl}.layers.4.weight"), m, m)
        cin = m
    width = old * 2 ** levels
    mb = m_for(width)
    sd["bottom.layers.0.weight"] = conv(w_old("bottom.layers.0.weight"), cin, mb)
    sd["bottom.layers.4.weight"] = conv(w_old("bottom.layers.4.weight"), mb, mb)
    cin = mb
    for i in range(levels):
        width = old * 2 ** (levels - 1 - i)
        m = m_for(width)
        sd[f"up_t.{i}.layers.0.weight"] = conv(w_old(f"up_t.{i}.layers.0.weight"), cin, m, transposed=True)
        cat = torch.cat([m, m + width])  # [up-sampled, skip] inputs, both copied by the level's mapping
        pre = f"up_conv.{i}." + ("0." if i == levels - 1 else "")
        sd[pre + "layers.0.weight"] = conv(w_old(pre + "layers.0.weight"), cat, m)
        sd[pre + "layers.4.weight"] = conv(w_old(pre + "layers.4.weight"), m, m)
        cin = m
    last = f"up_conv.{levels - 1}.1.weight"
    sd[last] = conv(w_old(last), cin, None)
    missing = [k for k, v in new.state_dict().items() if sd[k].shape != v.shape]
    if missing:
        raise RuntimeError(f"widen: shapes left unmapped: {missing}")
    new.load_state_dict(sd)
    if hasattr(model, "meta"):
        new.meta = dict(model.meta)
    return new
