"""RED-diff (Mardani, Song, Kautz, Vahdat: "A Variational Perspective on Solving Inverse Problems
with Diffusion Models", ICLR 2024).

The image μ (complex) is optimised directly with Adam. Iteration i uses a timestep t_i descending
from T−1 to 0, draws ε, forms x_t = √ᾱ_t μ + √(1−ᾱ_t) ε, evaluates ε̂ = ε_θ(x_t, t) **under
torch.no_grad()**, and steps on

    loss = obs_weight · ‖y − A μ‖² / (2 · 2N)  +  λ · w(t) · mean(sg(ε̂ − ε) · μ)

(N pixels per image, both terms normalised per real entry as in the reference code; the data term
is further divided by ``‖A^H A‖`` — 1 for the MRI operators, 1/factor² for ``Downsample`` — which for
super-resolution equals the reference code's mean over the measured low-resolution pixels) with the
SNR weight w(t) = σ_t/α_t = √(1−ᾱ_t)/√ᾱ_t ("snr"), or its "sqrt", "square", or a "const" 1. The
regulariser's gradient is λ w(t) (ε̂ − ε): one network evaluation per iteration and no
back-propagation through the network, so memory stays that of a forward pass. With λ = 0 it is
plain least squares by Adam.
"""

from __future__ import annotations

import dataclasses

import torch

from mrirecon.diffusion.schedule import item_generators, randn_like
from mrirecon.recon.common import bshape, eps_net, normalise_measurement


@dataclasses.dataclass
class REDDiffOptions:
    lamda: float = 0.25
    lr: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    steps: int = 200
    weighting: str = "snr"  # snr | sqrt | square | const
    obs_weight: float = 1.0
    init: str = "zero-filled"  # zero-filled | unet | zeros
    t_max: float = 1.0  # fraction of T where the descending timesteps start
    final_dc: bool = False


def weight(schedule, t: int, kind: str) -> float:
    w = float(schedule.sigma_over_alpha(t))
    if kind == "snr":
        return w
    if kind == "sqrt":
        return w ** 0.5
    if kind == "square":
        return w ** 2
    if kind == "const":
        return 1.0
    raise ValueError(f"unknown RED-diff weighting {kind!r}: snr, sqrt, square or const")


def solve(physics, y: torch.Tensor, prior, *, options: REDDiffOptions | None = None, unet=None,
          seed: int = 0, generator=None, callback=None, **_) -> torch.Tensor:
    """Complex ``(batch, H, W)``."""
    opt = options or REDDiffOptions()
    sched = prior.schedule
    if generator is None:
        generator = item_generators(seed, y.shape[0], y.device)
    scale, ys = normalise_measurement(physics, y)
    if opt.init == "unet":
        if unet is None:
            raise ValueError("RED-diff init='unet' needs a U-Net")
        from mrirecon.recon import unet as unet_solver

        mu0 = unet_solver.solve(physics, ys, model=unet)
    elif opt.init == "zero-filled":
        mu0 = physics.init(ys)
    elif opt.init == "zeros":
        mu0 = torch.zeros_like(physics.init(ys))
    else:
        raise ValueError(f"unknown RED-diff init {opt.init!r}")
    mu = torch.view_as_real(mu0.detach().clone()).requires_grad_(True)  # (B, H, W, 2) real leaf
    adam = torch.optim.Adam([mu], lr=opt.lr, betas=opt.betas)
    n_real = mu[0].numel()
    t_hi = max(int(round(opt.t_max * sched.T)) - 1, 0)
    ts = torch.linspace(t_hi, 0, opt.steps).round().long().tolist()
    for i, t in enumerate(ts):
        m = torch.view_as_complex(mu)
        eps = randn_like(m, generator)
        ab = float(sched.alpha_bar(t))
        with torch.no_grad():
            xt = ab ** 0.5 * m.detach() + (1 - ab) ** 0.5 * eps
            eps_hat = eps_net(prior, xt, t)
        g = torch.view_as_real(eps_hat - eps)  # stop-gradient by construction
        loss_reg = (g * mu).sum() / n_real
        resid = physics.forward(m) - ys
        loss_obs = (resid.abs() ** 2).sum() / (2 * n_real * physics.gram_norm)
        loss = opt.obs_weight * loss_obs + opt.lamda * weight(sched, t, opt.weighting) * loss_reg
        adam.zero_grad(set_to_none=True)
        loss.backward()
        adam.step()
        if callback is not None:
            callback(i, t, torch.view_as_complex(mu.detach()), float(loss))
    x = torch.view_as_complex(mu.detach()).clone()
    if opt.final_dc:
        x = physics.consistency(x, ys)
    return x * bshape(scale, x)
