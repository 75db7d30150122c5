"""Training objectives plugged into the one loop (``train.loop.train``): the feed-forward U-Net
(L1 / SSIM on reconstruction pairs), the diffusion prior (ε-prediction MSE, EMA) and SR3
(L1 on ε with a continuous noise level). Each has its config dataclass (the defaults are
``mrirecon train <what>``'s defaults)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from mrirecon.data.augment import CONTRAST_PROBS
from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule
from mrirecon.models.boundary import complex_to_channels
from mrirecon.train.loop import TrainConfig, field


def complex_to_channels_1(x: torch.Tensor) -> torch.Tensor:
    """One complex image ``(H, W)`` → ``(2, H, W)``."""
    return complex_to_channels(x[None])[0]


class Objective:
    name = "objective"
    val_key = "val"
    clip: float | None = None

    def __init__(self, cfg):
        self.cfg = cfg
        self.device = torch.device("cpu")

    def on_resume(self, state: dict, say) -> None:
        _recipe_switch(self.cfg, state, say)

    def setup(self, device, say=print, rank: int = 0, world: int = 1) -> None:
        self.device = device

    def indices(self, step: int, rank: int, world: int, n: int) -> list[tuple[int, int]]:
        """This process's share of the step's global batch: (global item number j, data index)."""
        b = self.cfg.batch_size
        g = _step_generator(self.cfg.seed, step)
        idx = torch.randint(0, n, (b * world,), generator=g).tolist()
        return [(j, idx[j]) for j in range(rank * b, (rank + 1) * b)]

    def micro_batches(self, items: list, accum: int) -> list:
        """Stackable groups of items (same shapes), at most ``ceil(len/accum)`` each, with the weight
        ``len(group) / len(items)`` that makes the summed losses the mean over the step's items."""
        per = -(-len(items) // accum)
        groups: dict = {}
        for it in items:
            groups.setdefault(tuple(tuple(t.shape) for t in it if torch.is_tensor(t)), []).append(it)
        out = []
        for grp in groups.values():
            for k in range(0, len(grp), per):
                chunk = grp[k:k + per]
                out.append((self.collate(chunk), len(chunk) / len(items)))
        return out

    def collate(self, items: list):
        return tuple(torch.stack([it[k] for it in items]).to(self.device) if torch.is_tensor(items[0][k])
                     else items[0][k] for k in range(len(items[0])))

    def lr_at(self, step: int) -> float:
        return self.cfg.lr

    def meta(self, state: dict) -> dict:
        return {"trained_steps": state["step"], "wall_seconds": round(state["wall_seconds"], 1)}

    def best_meta(self, val: dict) -> dict:
        return {}


def step_decay_lr(cfg, step: int) -> float:
    """``cfg.lr``, × 0.1 from ``cfg.lr_decay_steps`` on (the feed-forward networks' schedule)."""
    return cfg.lr * (0.1 if step >= cfg.lr_decay_steps else 1.0)


def _recipe_switch(cfg, state: dict, say) -> None:
    """A resumed run on another training distribution: fine-tuning; the best checkpoint is chosen anew."""
    old = state["config"].get("recipe", "basic")
    if old != cfg.recipe:
        say(f"training recipe {old} -> {cfg.recipe} at step {state['step']}: best-checkpoint selection restarts")
        state["best_score"] = None
        state.setdefault("switches", []).append({"step": state["step"], "recipe": cfg.recipe})
        state["config"] = dataclasses.asdict(cfg)


def _step_generator(seed: int, step: int, salt: int = 1_000_003) -> torch.Generator:
    return torch.Generator().manual_seed(seed * salt + step)


# ------------------------------------------------------------------------------------------ U-Net
@dataclasses.dataclass
class UNetTrainConfig(TrainConfig):
    """Train the feed-forward reconstruction U-Net (the unet method's network) on simulated k-space."""

    out: str = field("runs/unet", "output folder (resumes from <out>/last)")
    chans: int = field(16, "channels of the first level")
    num_pool_layers: int = field(4, "down-sampling levels")
    lr_decay_steps: int = field(6000, "lr × 0.1 after this many steps")
    val_slices: int = field(48, "validation slices")
    loss: str = field("l1", "l1 (mean absolute error over the batch's pixels), ssim (1 - SSIM + 0.1 l1) or psnr "
                            "(the mean over items of each item's 10 log10 MSE, i.e. minus its PSNR up to a constant: "
                            "every item counts by its dB, so a nearly clean high-SNR input weighs as much as a noisy "
                            "one)")
    accelerations: tuple[int, ...] = field((4, 8), "accelerations drawn per item")
    mask_types: tuple[str, ...] = field(("random",), "basic recipe: mask families drawn per training item (random, "
                                                     "equispaced, gaussian, ...; data.masks.MASK_TYPES); validation "
                                                     "keeps fixed random masks")
    estimated_maps_prob: float = field(0.0, "basic recipe: share of multi-coil training items whose input uses coil "
                                            "maps estimated from the undersampled k-space (physics.coils.estimate_maps, "
                                            "as at inference) instead of the true maps")
    center_fractions: tuple[float, ...] = field((0.08, 0.04), "centre fraction per acceleration")
    multicoil_prob: float = field(0.5, "fraction of multi-coil (birdcage coils, --coil-range) items")
    snr_range: tuple[float, ...] = field((25.0, 40.0), "basic recipe: lowest and highest SNR (dB) of the training items "
                                                       "(validation stays at 25-40 dB)")
    coil_range: tuple[int, ...] = field((4, 12), "basic recipe: fewest and most birdcage coils of multi-coil items")
    radius_range: tuple[float, ...] = field((1.0, 1.4), "basic recipe: smallest and largest birdcage radius (relative to "
                                                        "the field of view, steps of 0.1; smaller: more localised coils)")
    input_mode: str = field("sense", "multi-coil input: sense (CG-SENSE) or adjoint (A^H y)")
    sense_mu: float = field(0.01, "CG-SENSE input: Tikhonov weight")
    sense_iters: int = field(10, "CG-SENSE input: iterations")
    sense_sigma_ref: float | None = field(None, "CG-SENSE input: train with the weight raised as (sigma_n / this)^2 above "
                                                "this noise level (models.unet.sense_input_mu); none: the fixed weight, "
                                                "and the 95th percentile of the training inputs' sigma_n is recorded "
                                                "for inference")
    sense_mu_min: float | None = field(None, "CG-SENSE input with sense_sigma_ref: let the weight follow the noise both "
                                             "ways, mu = sense_mu (sigma_n / sense_sigma_ref)^2 clamped to [this, inf), "
                                             "so cleaner data get a less regularised input (give sense_iters enough CG "
                                             "steps); none: never below sense_mu")
    noise_cond: bool = field(False, "condition the network on the noise level estimated from the k-space (an extra "
                                    "input map, models.unet.network_input); false: noise-blind")
    init_from: str | None = field(None, "start a fresh run from these U-Net weights (its architecture; a noise "
                                        "conditioning channel it lacks starts at zero weight, i.e. ignored)")
    widen_to: int | None = field(None, "first-level channels of a wider network: --init-from's weights widened "
                                       "function-preservingly (models.unet.widen, Net2WiderNet), so training starts "
                                       "where they stand; without --init-from (a resumed run), a network this wide")
    val_high_snr: float | None = field(None, "also validate at the first acceleration with this SNR (dB; e.g. 50: "
                                             "nearly clean data, where the network must not lose what the data "
                                             "hold) and 8-15 more localised coils (radius 0.7-1.0); it counts in the "
                                             "best-checkpoint score, not in the recorded error eps0")

    def __post_init__(self):
        super().__post_init__()
        for name, lo_min in (("snr_range", None), ("coil_range", 2), ("radius_range", 0.3)):
            v = tuple(getattr(self, name))
            if len(v) != 2 or v[0] > v[1] or (lo_min is not None and v[0] < lo_min):
                raise ValueError(f"{name} must be two values, lowest first{f', at least {lo_min}' if lo_min else ''}; "
                                 f"got {list(v)}")
        if self.sense_sigma_ref is not None and not self.sense_sigma_ref > 0:
            raise ValueError(f"sense_sigma_ref must be positive, got {self.sense_sigma_ref}")
        if self.sense_mu_min is not None and (not self.sense_mu_min > 0 or self.sense_mu_min > self.sense_mu
                                              or self.sense_sigma_ref is None):
            raise ValueError(f"sense_mu_min must be positive, at most sense_mu ({self.sense_mu}), and needs "
                             f"sense_sigma_ref; got {self.sense_mu_min}")
        from mrirecon.data.masks import MASK_TYPES

        bad = [t for t in self.mask_types if t not in MASK_TYPES]
        if not self.mask_types or bad:
            raise ValueError(f"mask_types must name mask families of {sorted(MASK_TYPES)}, got {list(self.mask_types)}")
        if not 0.0 <= self.estimated_maps_prob <= 1.0:
            raise ValueError(f"estimated_maps_prob must be in [0, 1], got {self.estimated_maps_prob}")
        if self.widen_to is not None and self.widen_to < 1:
            raise ValueError(f"widen_to must be a positive channel count, got {self.widen_to}")
        if self.val_high_snr is not None and not self.val_high_snr > 0:
            raise ValueError(f"val_high_snr must be a positive SNR in dB, got {self.val_high_snr}")
        if self.loss not in UNET_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(UNET_LOSSES)}, got {self.loss!r}")


UNET_LOSSES = ("l1", "ssim", "psnr")
#: psnr loss: MSE floor (relative to the unit peak of inputs and targets), 80 dB below the peak
PSNR_LOSS_FLOOR = 1e-8


def psnr_loss(pred: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """Mean over items of 10 log10(MSE_item + floor): minus the mean PSNR at unit peak. Its gradient on
    an item is that item's MSE gradient divided by its MSE: relative to its own error, an item with
    100× less error pulls as hard as a noisy one — what a per-cell mean PSNR rewards — where an L1 or
    L2 loss over the batch lets the items with the largest errors dominate."""
    mse = (pred - tgt).pow(2).flatten(1).mean(1)
    return (10.0 / math.log(10.0)) * torch.log(mse + PSNR_LOSS_FLOOR).mean()


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


def warm_start_unet(path: str, cond_chans: int):
    """A U-Net with ``path``'s architecture and weights and ``cond_chans`` conditioning channels; the
    first convolution's weights of conditioning channels the saved network lacks are zero, so the new
    network computes exactly what the saved one does until training uses them."""
    from mrirecon.models import load_model
    from mrirecon.models.unet import UNet

    old = load_model(path)
    cfg = {**old.config_dict(), "cond_chans": cond_chans}
    if cfg.get("in_chans", 2) != 2 or cfg.get("out_chans", 2) != 2:
        raise ValueError(f"{path}: not an MRI U-Net (in/out channels {cfg.get('in_chans')}/{cfg.get('out_chans')})")
    new = UNet(**cfg)
    sd = old.state_dict()
    for k, v in new.state_dict().items():
        w = sd.get(k)
        if w is None:
            raise ValueError(f"{path}: no weights for {k}")
        if w.shape != v.shape:  # the first convolution: (chans, 2 + old cond, 3, 3) -> (chans, 2 + cond, 3, 3)
            if k != "down.0.layers.0.weight" or w.shape[1] > v.shape[1]:
                raise ValueError(f"{path}: {k} has shape {tuple(w.shape)}, expected {tuple(v.shape)}")
            w = torch.cat([w, torch.zeros(v.shape[0], v.shape[1] - w.shape[1], *v.shape[2:], dtype=w.dtype)], 1)
        sd[k] = w
    new.load_state_dict(sd)
    return new


def train_mask_func(c):
    """The basic recipe's training masks: one mask function per family of ``c.mask_types`` with the
    configured R / centre fractions; several families are drawn per item (``data.masks.MixedMaskFunc``),
    a single one (the default, random) is used as it is, so its masks are those of earlier runs."""
    from mrirecon.data.masks import MixedMaskFunc, create_mask_for_mask_type

    funcs = [create_mask_for_mask_type(t, list(c.center_fractions), list(c.accelerations)) for t in c.mask_types]
    return funcs[0] if len(funcs) == 1 else MixedMaskFunc(funcs)


class UNetObjective(Objective):
    """Masks drawn on the fly (fastMRI random, the configured R and centre fractions), half the items
    single-coil and half 4–12-coil SENSE; the input made by ``models.unet.network_input``; validation
    PSNR/SSIM per acceleration on fixed masks; the best weights carry the initializer's error
    ``eps0`` (CCDF's automatic t0)."""

    name = "unet"

    @property
    def high_snr_key(self) -> str | None:
        """The name of the ``val_high_snr`` validation set (None without one)."""
        c = self.cfg
        return None if c.val_high_snr is None else f"R{c.accelerations[0]}@{c.val_high_snr:g}dB"

    def input_spec(self) -> dict:
        c = self.cfg
        return {"mode": c.input_mode, **({"mu": c.sense_mu, "iters": c.sense_iters} if c.input_mode == "sense" else {}),
                **({"sigma_ref": c.sense_sigma_ref} if c.input_mode == "sense" and c.sense_sigma_ref else {}),
                **({"mu_min": c.sense_mu_min} if c.input_mode == "sense" and c.sense_mu_min else {}),
                **({"noise_cond": True} if c.noise_cond else {})}

    def build_model(self):
        from mrirecon.models.unet import UNet

        cond = 1 if self.cfg.noise_cond else 0
        if not self.cfg.init_from:
            return UNet(chans=self.cfg.widen_to or self.cfg.chans, num_pool_layers=self.cfg.num_pool_layers,
                        cond_chans=cond)
        net = warm_start_unet(self.cfg.init_from, cond)
        if self.cfg.widen_to:
            from mrirecon.models.unet import widen

            net = widen(net, self.cfg.widen_to, generator=torch.Generator().manual_seed(self.cfg.seed))
        return net

    def on_resume(self, state, say):
        _recipe_switch(self.cfg, state, say)
        old = state["config"].get("input_mode", "adjoint")
        if old != self.cfg.input_mode:  # the input definition changed: fine-tune, select the best anew
            say(f"input mode {old} -> {self.cfg.input_mode} at step {state['step']}: best-checkpoint selection restarts")
            state["best_score"] = None
            state.setdefault("switches", []).append({"step": state["step"], "input_mode": self.cfg.input_mode})
            state["config"] = dataclasses.asdict(self.cfg)

    def setup(self, device, say=print, rank: int = 0, world: int = 1):
        from mrirecon.data.masks import RandomMaskFunc
        from mrirecon.train.sources import item_generator, open_sources

        super().setup(device)
        c = self.cfg
        train_mf = train_mask_func(c)
        self.train_src, val_src = open_sources(c, train_mf, None, self.input_spec(), log=say)
        self.val = {}
        n = len(val_src)
        vidx = np.unique(np.linspace(0, n - 1, min(c.val_slices, n)).astype(int))
        for acc, cf in zip(c.accelerations, c.center_fractions):
            mf = RandomMaskFunc([cf], [acc])
            val_src.mask_func = mf
            if getattr(val_src, "pairs", None) is not None:
                val_src.pairs.mask_func = mf
            self.val[f"R{acc}"] = [val_src.unet_item(int(i), (int(i),)) for i in vidx]  # fixed masks
        if c.val_high_snr:  # nearly clean data at the first acceleration, localised coils, fixed masks
            from mrirecon.train.datasets import UNetSliceDataset

            clean = UNetSliceDataset(val_src.images.numpy(), RandomMaskFunc([c.center_fractions[0]], [c.accelerations[0]]),
                                     fixed_masks=True, augment=False, multicoil_prob=1.0, snr_db=(c.val_high_snr,) * 2,
                                     coils=(8, 15), radius=(0.7, 1.0), input_spec=val_src.pairs.input_spec)
            self.val[self.high_snr_key] = [(*clean.item(int(i), (int(i),)), True) for i in vidx]
        if c.recipe == "robust" and getattr(val_src, "pairs", None) is not None:
            # the whole matrix on validation anatomy: contrast, coils, noise, R and masks drawn with fixed seeds
            from mrirecon.data.robust import RobustRecipe

            pairs, rc = val_src.pairs, RobustRecipe()
            self.val["mix"] = [(*pairs._pair(*pairs._robust_item(int(i), (999, int(i)), item_generator(999, int(i)), rc)), True)
                               for i in vidx]

    def batch(self, step, rank=0, world=1):
        return [self.train_src.unet_item(i, (self.cfg.seed, step, j))
                for j, i in self.indices(step, rank, world, len(self.train_src))]

    def lr_at(self, step):
        return step_decay_lr(self.cfg, step)

    def loss(self, model, batch):
        inp, tgt, is_complex = batch
        pred = model(inp)
        if not is_complex:  # fastMRI folders: magnitude targets at the recon size
            from mrirecon.physics.fft import center_crop

            mag = center_crop(torch.sqrt(pred[:, 0] ** 2 + pred[:, 1] ** 2 + 1e-12), tuple(tgt.shape[-2:]))
            if self.cfg.loss == "ssim":
                return ssim_loss(mag[:, None], tgt[:, None].float()) + 0.1 * (mag - tgt).abs().mean()
            if self.cfg.loss == "psnr":
                return psnr_loss(mag, tgt.float())
            return (mag - tgt).abs().mean()
        if self.cfg.loss == "ssim":
            m = lambda t: torch.sqrt(t[:, :1] ** 2 + t[:, 1:] ** 2 + 1e-12)  # noqa: E731
            return ssim_loss(m(pred), m(tgt)) + 0.1 * (pred - tgt).abs().mean()
        if self.cfg.loss == "psnr":
            return psnr_loss(pred, tgt)
        return (pred - tgt).abs().mean()

    @torch.no_grad()
    def validate(self, model):
        from mrirecon.eval.metrics import evaluate_volume
        from mrirecon.physics.fft import center_crop

        was = model.training
        model.eval()
        out = {}
        for name, items in self.val.items():
            preds, tgts, zfs = [], [], []
            for inp, tgt, is_complex in items:
                pred = model(inp[None].to(self.device)).cpu()[0]
                p, z = torch.complex(pred[0], pred[1]).abs(), torch.complex(inp[0], inp[1]).abs()
                t = torch.complex(tgt[0], tgt[1]).abs() if is_complex else tgt
                preds.append(center_crop(p, tuple(t.shape[-2:])).numpy())
                zfs.append(center_crop(z, tuple(t.shape[-2:])).numpy())
                tgts.append(t.numpy())
            m = np.mean([evaluate_volume(t[None], p[None])["PSNR"] for t, p in zip(tgts, preds)]) if \
                len({t.shape for t in tgts}) > 1 else None
            if m is None:
                t, p, z = np.stack(tgts), np.stack(preds), np.stack(zfs)
                mm, mz = evaluate_volume(t, p), evaluate_volume(t, z)
                out[name] = {"PSNR": round(mm["PSNR"], 3), "SSIM": round(mm["SSIM"], 4), "NMSE": round(mm["NMSE"], 5),
                             "zf_PSNR": round(mz["PSNR"], 3), "mse_mag": float(np.mean((p - t) ** 2))}
            else:  # slices of different sizes: per-slice metrics, averaged
                out[name] = {"PSNR": round(float(m), 3), "mse_mag": float(np.mean([np.mean((p - t) ** 2)
                                                                                    for t, p in zip(tgts, preds)]))}
        model.train(was)
        return out

    def score(self, val):
        return float(np.mean([v["PSNR"] for v in val.values()]))

    def input_noise_reference(self) -> float | None:
        """The upper end of the training inputs' noise (``models.unet.sense_input_mu``), recorded with the
        weights so that inference raises the CG-SENSE weight only for data noisier than training showed.
        Measured once, when the first checkpoint's meta is written (rank 0 only); None when the run trains
        with ``sense_sigma_ref`` (its spec carries it) or its source cannot draw measurements."""
        if not hasattr(self, "_sigma_ref"):
            pairs = getattr(self.train_src, "pairs", None)
            self._sigma_ref = (pairs.input_noise_reference()
                               if not self.cfg.sense_sigma_ref and hasattr(pairs, "input_noise_reference") else None)
        return self._sigma_ref

    def meta(self, state):
        c = self.cfg
        spec = self.input_spec()
        if self.input_noise_reference():
            spec["sigma_ref"] = self.input_noise_reference()
        return {**super().meta(state), "input": spec, "train_size": c.size,
                "data": "prepared packaged T1 volumes (train split), val: Colin27",
                "recipe": c.recipe,
                "masks": (f"fastMRI {' / '.join(c.mask_types)} R={list(c.accelerations)} cf={list(c.center_fractions)}"
                          if c.recipe == "basic"
                          else "robust recipe: random / equispaced / Gaussian, R 2-10, cf 0.32/R")}

    def best_meta(self, val):
        # the initializer's error on the fixed-R sets (CCDF's auto_rho was calibrated on them)
        eps0 = {k: v["mse_mag"] for k, v in val.items() if k not in ("mix", self.high_snr_key)}
        return {"eps0": eps0, "eps0_mean": float(np.mean(list(eps0.values())))}


# ------------------------------------------------------------------------------------------ prior
@dataclasses.dataclass
class PriorTrainConfig(TrainConfig):
    """Train the unconditional diffusion prior (the network of ccdf, diffusion, red-diff and dps)."""

    out: str = field("runs/prior", "output folder (resumes from <out>/last)")
    lr: float = field(5e-4, "Adam learning rate")
    channels: tuple[int, ...] = field((32, 64, 64), "channels per level of the diffusers UNet2DModel")
    layers_per_block: int = field(1, "ResNet layers per level")
    attention: bool = field(False, "attention at the lowest level")
    crop: int = field(64, "random crop size")
    warmup: int = field(200, "linear learning-rate warm-up steps")
    ema: float = field(0.999, "EMA decay of the exported weights")
    val_every: int = field(1000, "steps between denoising validations")
    t_sampling: str = field("mixed", "uniform | mixed (half on t < low_frac·T, CCDF's range) | low")
    low_frac: float = field(0.25, "upper end of the low-noise range as a fraction of T")


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
        out[str(int(t))] = round(10 * math.log10(images.abs().amax().item() ** 2 / mse), 3)
    return out


class PriorObjective(Objective):
    """ε-prediction MSE on random crops of complex images (smooth random phase, flips, small affine,
    intensity jitter); timesteps weighted toward CCDF's range; validation: one-step denoising PSNR."""

    name = "prior"
    val_key = "denoise_psnr"
    clip = 1.0

    def __init__(self, cfg):
        super().__init__(cfg)
        self.schedule = VPSchedule(ScheduleConfig())

    def build_model(self):
        from mrirecon.models.prior import PriorUNet

        return PriorUNet(self.cfg.channels, self.cfg.layers_per_block, self.cfg.attention)

    def setup(self, device, say=print, rank: int = 0, world: int = 1):
        from mrirecon.train.sources import crop_or_pad, open_sources

        super().setup(device)
        self.src, val = open_sources(self.cfg, log=say)
        n = len(val)
        vidx = np.unique(np.linspace(0, n - 1, min(16, n)).astype(int))
        g = torch.Generator().manual_seed(1234)
        self.val_images = torch.stack([complex_to_channels_1(crop_or_pad(val.complex_image(int(i), g), self.cfg.crop, None))
                                       for i in vidx])

    def item(self, i: int, seed: tuple):
        from mrirecon.train.sources import crop_or_pad, item_generator

        g = item_generator(*seed)
        x = crop_or_pad(self.src.complex_image(i, g), self.cfg.crop, g)
        x = x * (0.8 + 0.3 * float(torch.rand(1, generator=g)))  # intensity jitter
        t = sample_timesteps(1, self.schedule.T, self.cfg.t_sampling, self.cfg.low_frac, g)
        noise = torch.randn((2, *x.shape), generator=g)
        xt = self.schedule.q_sample(complex_to_channels_1(x)[None], t, noise[None])[0]
        return xt, t[0], noise

    def batch(self, step, rank=0, world=1):
        return [self.item(i, (self.cfg.seed, step, j)) for j, i in self.indices(step, rank, world, len(self.src))]

    def lr_at(self, step):
        return self.cfg.lr * min(1.0, (step + 1) / max(self.cfg.warmup, 1))

    def loss(self, model, batch):
        xt, t, noise = batch
        return (model(xt, t) - noise).pow(2).mean()

    def collate(self, items):
        return (torch.stack([i[0] for i in items]).to(self.device), torch.stack([i[1] for i in items]).to(self.device),
                torch.stack([i[2] for i in items]).to(self.device))

    def validate(self, model):
        return denoise_psnr(model, self.schedule, self.val_images)

    def score(self, val):
        return float(np.mean(list(val.values())))

    def meta(self, state):
        return {**super().meta(state), "t_sampling": self.cfg.t_sampling, "train_size": self.cfg.crop,
                "data": "prepared packaged T1 volumes (train split)", "recipe": self.cfg.recipe,
                "schedule": dataclasses.asdict(self.schedule.config)}


# ------------------------------------------------------------------------------------------ SR pairs
class SRPairMaker:
    """What the SR objectives share: HR crops of the (augmented) training magnitudes and their LR
    partners through ``physics.sr.Degrade`` — a degradation and scale drawn per item, along both axes
    or (``one_axis_prob``) one random axis as through-plane SR sees it — cubic-upsampled by the
    operator's own ``upsample``, as at inference; each pair normalised by the HR crop's peak."""

    @staticmethod
    def _pair(hr: torch.Tensor, scale, kind: str = "box", snr_db: float | None = None,
              g: torch.Generator | None = None):
        """(cubic-upsampled LR, HR) ``(n, 1, H, W)`` of HR images ``(n, H, W)`` for ``Degrade(scale, kind)``
        (``scale`` an integer or per-axis factors); ``snr_db``: Gaussian noise on the LR images."""
        from mrirecon.data.robust import noise_sigma
        from mrirecon.physics.sr import training_pair

        def noise(lr, hr):
            return lr + noise_sigma(hr[0], snr_db) / 2 ** 0.5 * torch.randn(lr.shape, generator=g)

        return training_pair(hr, scale, kind, noise if snr_db is not None else None)

    def sr_pair(self, i: int, seed: tuple, scale: int, snr_db: float | None = None):
        """One training pair ``(up (1, H, W), hr (1, H, W), generator)`` of source slice ``i``."""
        from mrirecon.train.sources import crop_or_pad, item_generator

        g = item_generator(*seed)
        c = self.cfg
        hr = crop_or_pad(self.src.magnitude(i, g), c.crop, g)
        kind = c.degradations[int(torch.randint(0, len(c.degradations), (1,), generator=g))]
        factors = (scale, scale)
        if c.one_axis_prob > 0 and float(torch.rand(1, generator=g)) < c.one_axis_prob:
            factors = (scale, 1) if bool(torch.rand(1, generator=g) < 0.5) else (1, scale)
        up, hr = self._pair(hr[None], factors, kind, snr_db, g)
        return up[0], hr[0], g


def _check_degradations(cfg) -> None:
    from mrirecon.physics.sr import DEGRADATIONS

    bad = [d for d in cfg.degradations if d not in DEGRADATIONS]
    if bad or not cfg.degradations:
        raise ValueError(f"degradations must be among {', '.join(DEGRADATIONS)}, got {list(cfg.degradations)}")
    if not 0 <= cfg.one_axis_prob <= 1:
        raise ValueError(f"one_axis_prob must be in [0, 1], got {cfg.one_axis_prob}")
    if any(cfg.crop % f for f in cfg.scales):
        raise ValueError(f"crop {cfg.crop} must be divisible by every scale {list(cfg.scales)}")


# ------------------------------------------------------------------------------------------ SR3
@dataclasses.dataclass
class SR3TrainConfig(TrainConfig):
    """Train SR3, the conditional diffusion network of the sr3 super-resolution method."""

    out: str = field("runs/sr3", "output folder (resumes from <out>/last)")
    lr: float = field(2e-4, "Adam learning rate")
    channels: tuple[int, ...] = field((32, 64, 64), "channels per level of the diffusers UNet2DModel")
    scales: tuple[int, ...] = field((2, 4), "SR factors, alternating by step")
    crop: int = field(64, "random HR crop size")
    loss: str = field("l1", "l1 or l2 on ε")
    degradations: tuple[str, ...] = field(("box",), "LR models drawn per item: box, kspace, gaussian "
                                                    "(physics.sr.Degrade)")
    one_axis_prob: float = field(0.0, "fraction of items degraded along one random in-plane axis only (SMORE: "
                                      "what through-plane SR applies to the orthogonal planes)")

    def __post_init__(self):
        super().__post_init__()
        _check_degradations(self)


def sample_sqrt_gamma(schedule: VPSchedule, n: int, g: torch.Generator) -> torch.Tensor:
    """SR3's continuous noise level: √γ ~ U(√ᾱ_t, √ᾱ_{t−1}) for a uniform t."""
    t = torch.randint(0, schedule.T, (n,), generator=g)
    hi = schedule.alpha_bar(t - 1).sqrt()
    lo = schedule.alpha_bar(t).sqrt()
    return (lo + torch.rand(n, generator=g, dtype=torch.float64) * (hi - lo)).float()


class SR3Objective(SRPairMaker, Objective):
    """SR3: HR/LR pairs from the prepared slices (magnitude; block-mean LR — the ``Downsample``
    operator — bicubic-upsampled as the condition), each normalised by the HR crop's peak;
    validation: the ε loss on a fixed validation batch at fixed noise levels (lower is better)."""

    name = "sr3"
    val_key = "val"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.schedule = VPSchedule(ScheduleConfig())

    def build_model(self):
        from mrirecon.models.sr3 import SR3Net

        return SR3Net(self.cfg.channels)

    def setup(self, device, say=print, rank: int = 0, world: int = 1):
        from mrirecon.train.sources import crop_or_pad, open_sources

        super().setup(device)
        c = self.cfg
        self.src, val = open_sources(c, log=say)
        n = len(val)
        vidx = np.unique(np.linspace(0, n - 1, min(16, n)).astype(int))
        g = torch.Generator().manual_seed(4321)
        hr = torch.stack([crop_or_pad(val.magnitude(int(i), g), c.crop, None) for i in vidx])
        self.val_pairs = {s: self._pair(hr, s) for s in c.scales}

    def _loss(self, model, up, hr, sg, noise):
        x = sg[:, None, None, None] * hr + (1 - sg ** 2).sqrt()[:, None, None, None] * noise
        pred = model(x, up, sg)
        return (pred - noise).abs().mean() if self.cfg.loss == "l1" else (pred - noise).pow(2).mean()

    def item(self, i: int, seed: tuple, scale: int):
        up, hr, g = self.sr_pair(i, seed, scale)
        sg = sample_sqrt_gamma(self.schedule, 1, g)[0]
        noise = torch.randn(hr.shape, generator=g)
        return up, hr, sg, noise

    def batch(self, step, rank=0, world=1):
        scale = self.cfg.scales[step % len(self.cfg.scales)]
        return [self.item(i, (self.cfg.seed, step, j), scale) for j, i in self.indices(step, rank, world, len(self.src))]

    def loss(self, model, batch):
        return self._loss(model, *batch)

    @torch.no_grad()
    def validate(self, model):
        g = torch.Generator().manual_seed(99)
        out = {}
        for s, (up, hr) in self.val_pairs.items():
            sg = sample_sqrt_gamma(self.schedule, len(hr), g)
            noise = torch.randn(hr.shape, generator=g)
            out[f"x{s}"] = round(float(self._loss(model, *(v.to(self.device) for v in (up, hr, sg, noise)))), 5)
        return out

    def score(self, val):
        return -float(np.mean(list(val.values())))

    def meta(self, state):
        return {**super().meta(state), "schedule": dataclasses.asdict(self.schedule.config),
                "scales": list(self.cfg.scales), "train_size": self.cfg.crop}


# ------------------------------------------------------------------------------------------ SR U-Net
@dataclasses.dataclass
class SRNetTrainConfig(TrainConfig):
    """Train the feed-forward SR U-Net (mrirecon sr --method unet, CCDF-SR's initializer)."""

    out: str = field("runs/srnet", "output folder (resumes from <out>/last)")
    chans: int = field(32, "channels of the first U-Net level")
    num_pool_layers: int = field(4, "down-sampling levels")
    lr_decay_steps: int = field(4000, "lr × 0.1 after this many steps")
    batch_size: int = field(16, "items per step and process (torchrun: the global batch is N × this)")
    scales: tuple[int, ...] = field((2, 3, 4, 5), "SR factors, drawn per item")
    crop: int = field(60, "random HR crop size (divisible by every scale)")
    degradations: tuple[str, ...] = field(("box", "kspace", "gaussian"), "LR models drawn per item: box, kspace, "
                                                                          "gaussian (physics.sr.Degrade)")
    one_axis_prob: float = field(0.5, "fraction of items degraded along one random in-plane axis only (SMORE: "
                                      "what through-plane SR applies to the orthogonal planes)")
    noise_prob: float = field(0.2, "fraction of items with Gaussian noise on the LR image (SNR 30-50 dB)")
    contrast_probs: tuple[float, ...] = field(CONTRAST_PROBS, "robust recipe: probabilities of tissue-class "
                                                                "synthesis, non-monotone and monotone remaps (the "
                                                                "rest keeps the T1 contrast)")

    def __post_init__(self):
        super().__post_init__()
        _check_degradations(self)
        if not 0 <= self.noise_prob <= 1:
            raise ValueError(f"noise_prob must be in [0, 1], got {self.noise_prob}")
        p = tuple(float(v) for v in self.contrast_probs)
        if len(p) != 3 or min(p) < 0 or sum(p) > 1 + 1e-9:
            raise ValueError(f"contrast_probs must be three probabilities summing to at most 1, got {list(p)}")


#: validation sets of the SR U-Net: name -> (per-axis factors, degradation, contrast); "z" = one axis
#: (through-plane); contrast "t1" (the volume as it is), "remap" / "synth" (one fixed seeded draw of the
#: recipe's non-monotone remap / tissue-class synthesis per slice — the recipe's families, not a benchmark's
#: remap); a run validates on those whose factors it trains
SR_VAL_SETS = {"x2": ((2, 2), "box", "t1"), "x4": ((4, 4), "box", "t1"), "x4z": ((4, 1), "box", "t1"),
               "x5z": ((1, 5), "box", "t1"), "x3k": ((3, 3), "kspace", "t1"), "x4g": ((4, 4), "gaussian", "t1"),
               "x2r": ((2, 2), "box", "remap"), "x4s": ((4, 4), "box", "synth")}


def _val_contrast(hr: torch.Tensor, contrast: str) -> torch.Tensor:
    """Validation slices ``(n, H, W)`` in one fixed, seeded draw of a recipe contrast family."""
    from mrirecon.data.augment import intensity_remap, tissue_synthesis

    if contrast == "t1":
        return hr
    out = []
    for i, x in enumerate(hr):
        g = torch.Generator().manual_seed(7919 + i)
        u = x / x.amax().clamp_min(1e-6)
        out.append(intensity_remap(u, g, monotone=False) if contrast == "remap" else tissue_synthesis(u, g))
    return torch.stack(out)


class SRNetObjective(SRPairMaker, Objective):
    """Feed-forward super-resolution: a residual U-Net (``models.unet.UNet``, one channel) from the
    cubic-upsampled LR image to the HR image, L1 loss — the SR counterpart of the reconstruction
    U-Net and CCDF-SR's initializer. Pairs as SR3's (``SRPairMaker``), the factor drawn per item, a fifth
    with LR noise; validation: PSNR gain over cubic interpolation on whole validation slices for
    in-plane and one-axis (through-plane) box, k-space and Gaussian degradations."""

    name = "srnet"

    def build_model(self):
        from mrirecon.models.unet import UNet

        net = UNet(in_chans=1, out_chans=1, chans=self.cfg.chans, num_pool_layers=self.cfg.num_pool_layers)
        last = net.up_conv[-1][-1]  # the output 1×1 convolution: zero, so training starts at cubic interpolation
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
        return net

    def setup(self, device, say=print, rank: int = 0, world: int = 1):
        from mrirecon.train.sources import crop_or_pad, open_sources

        super().setup(device)
        self.src, val = open_sources(self.cfg, log=say)
        n = len(val)
        vidx = np.unique(np.linspace(0, n - 1, min(16, n)).astype(int))
        sets = self.val_sets()
        lcm = math.lcm(*self.cfg.scales)
        size = max(lcm, min(120, self.cfg.size) // lcm * lcm)  # centre crop divisible by every factor
        hr = torch.stack([crop_or_pad(val.magnitude(int(i), None), size, None) for i in vidx])
        self.val_pairs = {k: self._pair(_val_contrast(hr, con), f, kind) for k, (f, kind, con) in sets.items()}

    def val_sets(self) -> dict:
        """The validation sets of the factors this run trains."""
        return {k: v for k, v in SR_VAL_SETS.items() if set(v[0]) <= {1, *self.cfg.scales}}

    def on_resume(self, state: dict, say) -> None:
        super().on_resume(state, say)
        last = next((r["val"] for r in reversed(state["history"]) if r.get("val")), None)
        sets = sorted(self.val_sets())
        if last is not None and sorted(last) != sets and state.get("best_score") is not None:
            say(f"validation sets {sorted(last)} -> {sets}: best-checkpoint selection restarts")
            state["best_score"] = None

    def item(self, i: int, seed: tuple):
        from mrirecon.train.sources import item_generator

        g = item_generator(*seed, 7)
        c = self.cfg
        scale = c.scales[int(torch.randint(0, len(c.scales), (1,), generator=g))]
        snr = 30 + 20 * float(torch.rand(1, generator=g)) if float(torch.rand(1, generator=g)) < c.noise_prob else None
        up, hr, _ = self.sr_pair(i, seed, scale, snr)
        return up, hr

    def batch(self, step, rank=0, world=1):
        return [self.item(i, (self.cfg.seed, step, j)) for j, i in self.indices(step, rank, world, len(self.src))]

    def lr_at(self, step):
        return step_decay_lr(self.cfg, step)

    def loss(self, model, batch):
        up, hr = batch
        return (model(up) - hr).abs().mean()

    @torch.no_grad()
    def validate(self, model):
        from mrirecon.eval.metrics import psnr

        was = model.training
        model.eval()
        out = {}
        for k, (up, hr) in self.val_pairs.items():
            pred = torch.cat([model(up[j:j + 4].to(self.device)).cpu() for j in range(0, len(up), 4)])
            p, b = (float(psnr(hr.numpy(), x.numpy(), maxval=1.0)) for x in (pred, up))  # pairs peak at 1
            out[k] = {"PSNR": round(p, 3), "cubic_PSNR": round(b, 3), "gain": round(p - b, 3)}
        model.train(was)
        return out

    def score(self, val):
        return float(np.mean([v["gain"] for v in val.values()]))

    def meta(self, state):
        c = self.cfg
        return {**super().meta(state), "task": "sr", "train_size": c.crop, "scales": list(c.scales),
                "degradations": list(c.degradations), "one_axis_prob": c.one_axis_prob, "noise_prob": c.noise_prob,
                "recipe": c.recipe, "data": "prepared packaged T1 volumes (train split), val: Colin27"}


OBJECTIVES = {"unet": (UNetObjective, UNetTrainConfig), "prior": (PriorObjective, PriorTrainConfig),
              "sr3": (SR3Objective, SR3TrainConfig), "srnet": (SRNetObjective, SRNetTrainConfig)}
