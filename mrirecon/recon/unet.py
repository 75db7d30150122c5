"""Feed-forward U-Net reconstruction: x = U(x_in), optionally followed by data consistency — for MRI
(``solve``) and for super-resolution (``solve_sr``: the SR U-Net from the operator's cubic
upsampling, then the exact consistency projection).

x_in is what the network was trained on (``models.unet.network_input``, the function training uses
too): ``A^H y``, or for multi-coil data the CG-SENSE image. ``final_dc="cg"`` solves
argmin ‖Ax − y‖² + μ_dc‖x − U(x_in)‖² (parallel imaging around the network's estimate); ``"auto"``
does that for multi-coil data and nothing for single-coil data; ``"replace"`` applies the
operator's consistency map (``dc_mode`` / ``dc_weight``).

The weight μ_dc is chosen on the data itself by default (``dc_mu="cv"``). The noise rule
μ = σ_n² / ε₀ (``dc_mu="auto"``: noise level over the network's validation error) is the MAP weight
for the sampled k-space entries; k-space hold-out validation clamps it to the interval the data
support. A few disjoint sets of sampled lines outside the calibration region are held out in turn;
the network and the consistency solve run on the rest for each μ of ``CV_MUS`` (∞: the network's
estimate as it is; one multi-shift CG serves all μ). The μ of least held-out prediction error is the
interval's upper end, the smallest μ within one standard error of it the lower end (``cv_dc_mu``).
Held-out lines see the unsampled k-space, which parallel imaging fills through the coil maps:
coil-map errors, g-factor noise, an overestimated noise level and slices far from the network's
training data show up there, and the noise rule sees none of them. Single-coil consistency is
diagonal in k-space (it changes only the sampled entries), so held-out lines cannot rank μ there:
single-coil data use the noise rule.

``dc_l1`` (off by default) also tries L1-wavelet compressed sensing with the network's estimate as a
quadratic reference on the same held-out sets, and keeps it per slice where they prefer it (``_l1_consistency``);
``dc_l1="sure"`` instead mixes the CG solve, CS around the network and plain CS with the weights of least GSURE risk,
an estimate of the image error itself (``_sure_consistency``, ``recon.sure``), and takes the held-out choice where
noise swamps that estimate.

``passes > 1`` runs the network again on its own consistency-corrected estimate (peak-normalised, as
the first input is), each pass followed by the same consistency solve with the weight validated for
the first pass (single-coil data: the noise rule's weight between passes, none after the last, as
``final_dc="auto"`` does): test-time unrolling with shared weights. The network was trained on
zero-filled / CG-SENSE inputs only; the gain of a second pass is measured on the robustness matrix
(docs/benchmarks.md, round 13).
"""

from __future__ import annotations

import dataclasses
import math

import torch

from mrirecon.models.boundary import channels_to_complex
from mrirecon.models.unet import input_channels, network_input, prepare_input
from mrirecon.recon.common import bshape
from mrirecon.recon.options import Options, opt
from mrirecon.recon.registry import register
from mrirecon.recon.result import Result


FALLBACK_DC_MU = 0.02  # the constant used before the weights followed the data (networks without eps0)
#: candidate weights of the hold-out choice (``dc_mu="cv"``); ∞ = the network's estimate unchanged
CV_MUS = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, math.inf)
#: passes=cv keeps the second pass where its mean held-out error is lower by more than this many standard
#: errors of the difference (1: the one-standard-error rule)
PASSES_SE = 1.0
#: dc_l1: weights of the network's estimate tried in the L1-wavelet solve (0: plain CS)
L1_MUS = (0.0, 1e-3, 1e-2, 0.1, 1.0)
#: dc_l1 replaces the CG solve where its best mean held-out error is lower by more than this many standard
#: errors of the difference (the one-standard-error rule towards the CG solve, the established estimate)
L1_SE = 1.0


@dataclasses.dataclass
class UNetOptions(Options):
    final_dc: str = opt("auto", "data consistency after the network: cg (argmin |Ax-y|^2 + mu|x-U|^2), replace "
                        "(the operator's map), none, or auto (cg for multi-coil data, none for single-coil)",
                        choices=("auto", "cg", "replace", "none"))
    dc_mode: str = opt("replace", "consistency map for final_dc=replace", choices=("replace", "soft", "prox"))
    dc_weight: float = opt(1.0, "soft: step in (0, 1]; prox: mu > 0", min=0.0, min_open=True)
    dc_mu: float | str = opt("cv", "final_dc=cg: weight mu of the network's estimate; cv: the auto mu, clamped to the "
                             "interval k-space hold-out validation supports (CV_MUS, inf = no consistency) "
                             "(multi-coil data; single-coil: auto); auto: sigma_n^2 / eps0 (noise level over the "
                             "network's validation error, recon.weights)", choices=("cv", "auto"),
                             min=0.0, min_open=True)
    dc_iters: int = opt(20, "final_dc=cg: conjugate-gradient iterations", min=1)
    cv_folds: int = opt(5, "dc_mu=cv: hold-out sets (each costs one network evaluation)", min=1)
    cv_fraction: float = opt(0.08, "dc_mu=cv: fraction of the sampled lines outside the calibration region held out "
                             "per set", min=0.0, max=0.5, min_open=True)
    passes: int | str = opt("cv", "network passes, 1-8 or cv: each pass after the first feeds the previous estimate, made "
                               "consistent with the data (the final_dc solve; for single-coil data the noise-rule "
                               "weight), back to the network (one network evaluation and one CG solve each); cv: "
                               "one or two per slice, as k-space hold-out validation prefers (cv_folds more network "
                               "evaluations)", choices=("cv",), min=1, max=8)
    dc_l1: float | str = opt("none", "final_dc=cg on multi-coil data: also try compressed sensing with the network's "
                             "estimate as reference, argmin 1/2|Ax-y|^2 + mu/2|x-U|^2 + lamda|Wx|_1 (L1 wavelets, sigpy), "
                             "mu over L1_MUS (0: plain CS), and keep it where k-space hold-out validation prefers it to "
                             "the CG solve (5 more network evaluations and 26 L1-wavelet solves per slice): auto "
                             "(lamda = kappa sigma_n, cs's lamda=auto; nothing without a noise level), a number (lamda "
                             "relative to the measurement's scale), none (the CG solve only) or sure: per slice the "
                             "convex combination of least GSURE risk (estimated image error, recon.sure) of the CG "
                             "solve, CS around the network with the CG solve's mu and plain CS, lamda on cs's sure "
                             "grid (one more pass chain "
                             "and 36 L1-wavelet solves per slice; the CG solve where GSURE does not apply: single-coil, "
                             "fewer than 1.5 sampled values per pixel; auto's held-out choice where noise is more than "
                             "half of the least-squares image)",
                             choices=("auto", "none", "sure"), min=0.0, min_open=True)
    dc_l1_iters: int = opt(100, "dc_l1: iterations of each L1-wavelet solve (sigpy's proximal gradient)", min=1)
    dc_l1_mu: str = opt("cv", "dc_l1: the weight mu of the network's estimate in the L1-wavelet solve: cv (chosen per "
                        "slice over L1_MUS on held-out k-space, against the CG solve) or dc (the CG solve's validated "
                        "weight, always: the MAP estimate with both the network's Gaussian error and the wavelet "
                        "sparsity as priors; one L1-wavelet solve per slice, no further network evaluations)",
                        choices=("cv", "dc"))
    input_mu: str = opt("auto", "multi-coil CG-SENSE input's Tikhonov weight: auto (the trained weight, raised with the "
                        "noise above the network's training range when its weights record sigma_ref; "
                        "models.unet.sense_input_mu) or trained (the trained weight always)",
                        choices=("auto", "trained"))
    flips: int = opt(1, "test-time ensemble: the network on 1, 2 or 4 flips of its input (none; up-down; and "
                        "left-right, both), undone and averaged, at every network evaluation (evaluations x flips). "
                        "No transposes: they turn the mask's column undersampling into row undersampling, which the "
                        "network never saw", min=1, max=4)

    def __post_init__(self):
        super().__post_init__()
        if self.flips not in (1, 2, 4):
            raise ValueError(f"UNetOptions.flips must be 1, 2 or 4, got {self.flips}")


def input_spec(model, o: "UNetOptions | None" = None) -> dict | None:
    """The network's input spec (``meta["input"]``) as ``o.input_mu`` asks: ``trained`` drops the
    noise-following weight."""
    spec = getattr(model, "meta", {}).get("input")
    if spec and o is not None and o.input_mu == "trained" and "sigma_ref" in spec:
        spec = {k: v for k, v in spec.items() if k != "sigma_ref"}
    return spec


@torch.no_grad()
def network_estimate(physics, y: torch.Tensor, model, o: "UNetOptions | None" = None,
                     info: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The U-Net's raw complex estimate ``(batch, H, W)`` at ``y``'s scale (no data consistency) and
    the input's scale ``(batch,)``; ``info`` receives the multi-coil input's weight (``input_mu``)."""
    from mrirecon.models.io import warn_if_far_from_training_size

    inp, scale = network_input(physics, y, input_spec(model, o), info)
    warn_if_far_from_training_size(model, inp.shape)
    return _run(model, inp, y.device, scale, o.flips if o is not None else 1), scale


@torch.no_grad()
def network_refine(physics, y: torch.Tensor, model, x: torch.Tensor, o: "UNetOptions | None" = None) -> torch.Tensor:
    """A further pass of the network on an estimate ``x`` ``(batch, H, W)`` at ``y``'s scale: ``x`` takes
    the place of the input image (normalised by its peak as ``prepare_input`` normalises, with the same
    noise-condition map when the network has one), and the output comes back at ``y``'s scale."""
    peak = x.abs().flatten(1).amax(1).clamp_min(1e-12)
    return _run(model, input_channels(physics, y, x / bshape(peak, x), peak, input_spec(model, o)), y.device, peak,
                o.flips if o is not None else 1)


#: the flips of ``UNetOptions.flips``, as ``_dihedral`` codes: none, up-down (the mask unchanged), left-right
#: (the mask mirrored), both
FLIP_CODES = (0, 2, 1, 3)


def _run(model, channels: torch.Tensor, device, scale: torch.Tensor, flips: int = 1) -> torch.Tensor:
    """The network on input channels, as a complex image on ``device`` multiplied back by ``scale``; with
    ``flips`` > 1 the mean of its outputs on the first ``flips`` of ``FLIP_CODES``, each flipped back."""
    ch = channels.to(next(model.parameters()).device)
    out = sum(_undihedral(model(_dihedral(ch, k)), k) for k in FLIP_CODES[:flips]) / flips
    x = channels_to_complex(out).to(device)
    return x * bshape(scale, x)


def _pass_chain(physics, y: torch.Tensor, model, u: torch.Tensor, o: "UNetOptions", n: int, mu_dc, mu_between,
                final_dc: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The estimates after 1 … ``n`` passes from the network's first estimate ``u``, and the network's raw
    output of each pass: with ``final_dc``
    ``cg`` each pass ends with the consistency solve of weight ``mu_dc``; otherwise the passes are
    linked by the solve of weight ``mu_between`` (exact consistency where it is None) and each estimate
    gets ``final_dc`` (``replace``: the operator's map; ``none``)."""
    def between(x):
        return physics.consistency(x, y, "replace", 1.0) if mu_between is None else _dc(physics, y, x, mu_between,
                                                                                          o.dc_iters)

    def final(x):
        if final_dc == "cg":
            return _dc(physics, y, x, mu_dc, o.dc_iters)
        return physics.consistency(x, y, o.dc_mode, o.dc_weight) if final_dc == "replace" else x

    out, raws = [final(u)], [u]
    for _ in range(n - 1):
        raws.append(network_refine(physics, y, model, out[-1] if final_dc == "cg" else between(raws[-1]), o))
        out.append(final(raws[-1]))
    return out, raws


def _holdout_folds(physics, y: torch.Tensor, model, o: "UNetOptions", items: list[int], splits: list):
    """For each held-out set: ``(op_keep, y_keep, op_held, y_held, u)`` of ``items`` — the operators and data of
    the kept and held-out lines, and the network's estimate from the kept ones."""
    sub, ysub = physics.select(items), y[items]
    for f in range(o.cv_folds):
        keep = torch.stack([splits[i][f][0] for i in items]).to(y.device)
        held = torch.stack([splits[i][f][1] for i in items]).to(y.device)
        op_keep, y_keep = sub.with_mask(keep), _masked(ysub, keep)
        u, _ = network_estimate(op_keep, y_keep, model, o)
        yield op_keep, y_keep, sub.with_mask(held), _masked(ysub, held), u


def _held_error(op_held, y_held, x: torch.Tensor) -> torch.Tensor:
    return (op_held.forward(x) - y_held).abs().pow(2).flatten(1).sum(1).cpu()


@torch.no_grad()
def cv_passes(physics, y: torch.Tensor, model, o: "UNetOptions", mu_dc, mu_between,
              final_dc: str) -> tuple[torch.Tensor, int]:
    """Per item, whether a second pass predicts held-out k-space better than the first: the sets of
    held-out lines of ``cv_dc_mu``, the network and both passes run on the rest, and the second pass is
    taken when its mean held-out error is lower than the first's by more than one standard error of the
    difference (the one-standard-error rule towards the simpler estimate). Unlike the consistency weight,
    this ranks single-coil estimates too: the held-out lines are the network's prediction either way.
    Returns the choice per item and the network evaluations it took (none when nothing can be held out)."""
    from mrirecon.data.masks import holdout_splits

    b = y.shape[0]
    diffs = torch.zeros(o.cv_folds, b)
    splits = [holdout_splits(physics.item_mask(i), o.cv_folds, o.cv_fraction) for i in range(b)]
    items = [i for i in range(b) if splits[i]]
    if not items:
        return torch.zeros(b, dtype=torch.bool), 0
    pick = lambda m: None if m is None else m[items]  # noqa: E731
    for f, (op_keep, y_keep, op_held, y_held, u) in enumerate(_holdout_folds(physics, y, model, o, items, splits)):
        (one, two), _ = _pass_chain(op_keep, y_keep, model, u, o, 2, pick(mu_dc), pick(mu_between), final_dc)
        diffs[f, items] = _held_error(op_held, y_held, two) - _held_error(op_held, y_held, one)
    mean = diffs.mean(0)
    se = diffs.std(0) / o.cv_folds ** 0.5 if o.cv_folds > 1 else torch.zeros_like(mean)
    better = mean + PASSES_SE * se < 0
    better[[i for i in range(b) if not splits[i]]] = False
    return better, 2 * o.cv_folds


def _masked(y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``y`` with mask ``m`` ``(batch, H, W)`` applied (single- or multi-coil k-space)."""
    m = m.to(device=y.device, dtype=torch.float32)
    return y * (m[:, None] if y.dim() == 4 else m)


def _dc(physics, y, u, mu: torch.Tensor, iters: int) -> torch.Tensor:
    """argmin ‖Ax − y‖² + μ‖x − u‖² per item; μ = ∞ keeps ``u``."""
    mu = mu.to(u.device)
    inf = torch.isinf(mu)
    if bool(inf.all()):
        return u
    x = physics.cg_solve(y, u, torch.where(inf, torch.ones_like(mu), mu), iters)
    return torch.where(bshape(inf, x), u, x)


@torch.no_grad()
def cv_dc_mu(physics, y: torch.Tensor, model, o: "UNetOptions",
             info: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The interval of μ per item that k-space hold-out validation supports → ``(mu_low, mu_best)``:
    ``mu_best`` the μ of least held-out error, ``mu_low`` the smallest μ it does not reject.

    Held-out lines are unsampled in each split, so they measure what the consistency step does to
    the *unsampled* k-space (through the coil sensitivities): there, too much data weight spreads
    noise and coil-map errors, and the error rises as μ falls. What it does to the *sampled* entries
    (where more data weight always helps when the noise is low) is invisible to them, so the minimum
    itself is biased towards large μ. The choice is therefore the one-standard-error rule of
    cross-validation (Hastie et al., Elements of Statistical Learning §7.10) towards the data: the
    smallest μ whose mean error is within one standard error (over the sets) of the minimum is
    ``mu_low``. The minimum itself, ``mu_best``, is an upper estimate of the best μ. The solver keeps
    the noise rule's μ (``dc_mu='auto'``, which speaks for the sampled entries) inside that interval and
    clamps it to the interval otherwise: raised where the data show that trusting them more hurts
    (coil-map or model error), lowered where even the biased minimum trusts the data more (a noise level
    overestimated, or a network far off on this slice). An item
    whose mask leaves nothing to hold out (fully sampled) gets the smallest μ: its data decide."""
    from mrirecon.data.masks import holdout_splits

    b = y.shape[0]
    mus = torch.tensor(CV_MUS, dtype=torch.float32)
    errs = torch.zeros(o.cv_folds, b, len(CV_MUS))  # held-out squared prediction errors per set
    splits = [holdout_splits(physics.item_mask(i), o.cv_folds, o.cv_fraction) for i in range(b)]
    have = torch.tensor([bool(s) for s in splits])
    if not bool(have.any()):
        return mus[:1].expand(b).clone(), mus[:1].expand(b).clone()
    items = have.nonzero()[:, 0].tolist()
    if info is not None:  # the network evaluations of the held-out sets
        info["cv_folds"] = o.cv_folds
    finite = [m for m in CV_MUS if not math.isinf(m)]
    for f, (op_keep, y_keep, op_held, y_held, u) in enumerate(_holdout_folds(physics, y, model, o, items, splits)):
        xs = list(op_keep.cg_solve_shifts(y_keep, u, finite, o.dc_iters)) + [u] * (len(CV_MUS) - len(finite))
        for j, x in enumerate(xs):  # CV_MUS lists the finite weights first, then ∞
            errs[f, items, j] = _held_error(op_held, y_held, x)
    mean = errs.mean(0)
    se = errs.std(0) / o.cv_folds ** 0.5 if o.cv_folds > 1 else torch.zeros_like(mean)
    best = mean.argmin(1)
    bound = mean.gather(1, best[:, None]) + se.gather(1, best[:, None])
    pick = (mean <= bound).float().argmax(1)  # the first (smallest) μ under the bound
    pick[~have] = 0
    best[~have] = 0
    return mus[pick], mus[best]


def _noise_rule_mu(physics, y, model, scale) -> torch.Tensor | None:
    """σ_n² / ε₀ per item (``recon.weights.unet_dc_mu``), or None without a noise level or ε₀."""
    from mrirecon.recon.ccdf import initializer_error
    from mrirecon.recon.weights import normalised_sigma, unet_dc_mu

    eps0 = initializer_error(getattr(model, "meta", {}) or {}, physics)
    sig = normalised_sigma(physics, y, scale)
    return None if sig is None or eps0 is None else unet_dc_mu(sig, eps0)


@torch.no_grad()
def validated_weights(physics, y: torch.Tensor, model, o: "UNetOptions | None" = None,
                      scale: torch.Tensor | None = None, info: dict | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(mu, ratio)`` per item: the U-Net's consistency weight — the noise rule's μ clamped to the
    interval ``[mu_low, mu_best]`` that hold-out validation supports (``cv_dc_mu``) — and, when the
    noise rule applies, ``ratio = μ / μ_noise``: the factor by which the data behave noisier (> 1:
    coil-map and model error count) or cleaner (< 1: an overestimated noise level) than their noise
    estimate, since μ = σ²/ε₀. An ∞ μ counts as the largest finite candidate in ``ratio``. Without a
    noise level or ε₀: ``(mu_low, None)``. ``info`` receives ``cv_folds`` when held-out sets were run."""
    o = o or UNetOptions()
    if scale is None:
        _, scale = prepare_input(physics, y, input_spec(model, o))
    mu_low, mu_best = cv_dc_mu(physics, y, model, o, info)
    mu_noise = _noise_rule_mu(physics, y, model, scale)
    if mu_noise is None:
        return mu_low, None
    mu_noise = mu_noise.to(mu_low)
    mu = torch.maximum(mu_low, torch.minimum(mu_noise, mu_best))
    finite_max = max(m for m in CV_MUS if not math.isinf(m))
    ratio = torch.where(torch.isinf(mu), torch.full_like(mu, finite_max), mu) / mu_noise
    return mu, ratio


def validated_noise(physics, y: torch.Tensor, model, o: "UNetOptions | None" = None,
                    scale: torch.Tensor | None = None):
    """A copy of ``physics`` whose ``noise_sigma`` is the noise estimate times √ratio of
    ``validated_weights``: the noise level the data behave as, coil-map and model errors included (or
    an overestimate corrected) — for solvers whose data weights follow σ (CCDF). ``physics`` itself is
    not changed; single-coil operators, or data without a noise level, come back as they are."""
    from mrirecon.recon.weights import noise_level

    if physics.num_coils == 1:
        return physics
    _, ratio = validated_weights(physics, y, model, o, scale)
    sigma = noise_level(physics, y)
    if ratio is None or sigma is None:
        return physics
    return physics.select(list(range(y.shape[0]))).with_noise(sigma * ratio.to(sigma).sqrt())


@torch.no_grad()
def reconstruct(physics, y: torch.Tensor, model, options: UNetOptions | None = None,
                info: dict | None = None) -> torch.Tensor:
    """The U-Net's complex estimate ``(batch, H, W)`` at ``y``'s scale; ``info`` (a dict), when
    given, receives the data-consistency weights used (and ``cv_folds``, the extra network
    evaluations, when they were validated), the passes per item (``passes``, when more than one was
    possible) and ``evaluations``, the network evaluations in all."""
    o = options or UNetOptions()
    x, scale = network_estimate(physics, y, model, o, info)
    final_dc = o.final_dc
    if final_dc == "auto":
        final_dc = "cg" if physics.num_coils > 1 else "none"
    mu = mu_between = None
    if final_dc == "cg":
        mu = o.dc_mu
        if mu == "cv" and physics.num_coils == 1:  # held-out lines cannot rank μ (see the module docstring)
            mu = "auto"
        if mu == "cv":
            mu, _ = validated_weights(physics, y, model, o, scale, info)
        elif mu == "auto":
            mu = _noise_rule_mu(physics, y, model, scale)
            if mu is None:
                import warnings

                warnings.warn("dc_mu='auto' needs the noise level and the network's validation error (eps0 in its "
                              f"weights' meta); using mu = {FALLBACK_DC_MU}", stacklevel=2)
                mu = FALLBACK_DC_MU
        mu = torch.as_tensor(mu, dtype=torch.float32).reshape(-1).expand(y.shape[0]).clone()
        if info is not None:
            info["dc_mu"] = [None if math.isinf(v) else float(v) for v in mu.tolist()]
    elif o.passes != 1:  # between passes: consistency with the noise rule's weight (exact without it)
        mu_between = _noise_rule_mu(physics, y, model, scale)
        if mu_between is not None:
            mu_between = torch.as_tensor(mu_between, dtype=torch.float32).reshape(-1).expand(y.shape[0]).clone()
    two, evals, n = None, 0, o.passes
    if o.passes == "cv":
        two, evals = cv_passes(physics, y, model, o, mu, mu_between, final_dc)
        n = 2 if bool(two.any()) else 1
    chain, raws = _pass_chain(physics, y, model, x, o, n, mu, mu_between, final_dc)
    x = chain[-1] if two is None else torch.where(bshape(two, x), chain[-1], chain[0])
    if final_dc == "cg" and o.dc_l1 == "sure" and physics.num_coils > 1:
        per_item = [n if two is None else (2 if bool(two[i]) else 1) for i in range(y.shape[0])]
        raw = torch.stack([raws[k - 1][i] for i, k in enumerate(per_item)])
        x, l1_evals = _sure_consistency(physics, y, model, o, x, raw, mu, per_item, info)
    elif final_dc == "cg" and o.dc_l1 != "none" and physics.num_coils > 1:
        raw = raws[-1] if two is None else torch.where(bshape(two, x), raws[-1], raws[0])
        x, l1_evals = _l1_consistency(physics, y, model, o, x, raw, mu, info)
    else:
        l1_evals = 0
    if info is not None:
        if two is not None:
            info["passes"] = [2 if v else 1 for v in two.tolist()]
            info["passes_cv_evaluations"] = evals  # each held-out set: the network and its second pass
        elif n > 1:
            info["passes"] = [n] * y.shape[0]
        info["evaluations"] = (n + info.get("cv_folds", 0) + evals + l1_evals) * o.flips
    return x


@torch.no_grad()
def _sure_consistency(physics, y: torch.Tensor, model, o: "UNetOptions", x_cg: torch.Tensor, raw: torch.Tensor,
                      mu_cg: torch.Tensor, passes: list[int], info: dict | None) -> tuple[torch.Tensor, int]:
    """``dc_l1="sure"``: per item, the convex combination of least GSURE risk (``recon.sure``: the expected
    squared image error, estimated from the data alone; ``GSURE.combine``) of three estimates: the CG solve
    ``x_cg``, compressed sensing around the network's raw estimate ``raw`` with the CG solve's weight,
    argmin ½‖Ax − y‖² + μ/2‖x − raw‖² + λ‖Ψx‖₁, and plain CS (μ = 0), each L1 family at its λ of least risk on
    CS's GSURE grid (``cs.SURE_FACTORS`` × κσ_n, refined by 2× and √2×). Their errors differ (the network's bias, the
    wavelets' bias), so a mixture can beat the best of them; a single estimate is a vertex of the simplex and
    stays possible. The risk of
    an estimate needs its reconstruction of a probe-perturbed measurement: the network, its ``passes`` and the
    CG solve run again on it with the same weights (one more pass chain per item). Items GSURE does not apply to
    (single-coil data, fewer than 1.5 sampled values per pixel: ``sure.applicable``) keep the CG solve. Items it
    cannot rank on (``GSURE.reliable``: noise more than half of the least-squares image, random masks at 20–30 dB; or
    coil maps that leave part of the signal unexplained, ``GSURE.model_fits``, R=8 with localised coils) take the
    held-out k-space choice of ``dc_l1="auto"`` instead (``_l1_consistency``, with the options' ``dc_l1_mu``),
    which needs no least-squares image: on the robustness matrix it gains where GSURE had to step aside (round 19).
    Returns the image and the extra network evaluations."""
    from mrirecon.recon import sure
    from mrirecon.recon.common import measurement_scale
    from mrirecon.recon.cs import l1_wavelet_solve, sure_lamda
    from mrirecon.recon.weights import cs_lambda, normalised_sigma

    b = y.shape[0]
    scale = measurement_scale(physics, y)
    sig = normalised_sigma(physics, y, scale)
    ok = sure.applicable(physics, b)
    out, evals, chosen = x_cg.clone(), 0, [None] * b
    if sig is None or not any(ok):
        if info is not None:
            info["dc_sure"] = chosen
        return out, 0
    sig = sig.reshape(-1).expand(b)
    lam0 = cs_lambda(sig).tolist()  # cs's lamda=auto, the centre of its sure grid
    for i in [i for i in range(b) if ok[i]]:
        sub, yi, sc = physics.select([i]), y[i:i + 1], scale[i:i + 1]
        est = sure.GSURE(sub, yi, sig[i] * sc[0], seed=i)
        if not bool(est.reliable[0]):  # x_ML mostly noise or a misfit model: held-out k-space can rank (dc_l1="auto")
            held = {}
            img, ev = _l1_consistency(sub, yi, model, dataclasses.replace(o, dc_l1="auto"), x_cg[i:i + 1],
                                      raw[i:i + 1], mu_cg[i:i + 1], held)
            out[i], evals = img[0], evals + ev
            mu_l1 = held.get("dc_l1_mu", [None])[0]
            chosen[i] = {"estimate": "cg" if mu_l1 is None else "l1", "unreliable": round(float(est.noise_fraction[0]), 3),
                         "misfit": round(float(est.misfit[0]), 3), "misfit_share": round(float(est.misfit_share[0]), 3),
                         "why": est.why_unreliable(0),
                         "held_out": {"lamda": held.get("dc_l1_lamda", [None])[0], "mu": mu_l1}}
            continue
        yp = est.y_perturbed
        u_p, _ = network_estimate(sub, yp, model, o)
        chain_p, raws_p = _pass_chain(sub, yp, model, u_p, o, passes[i], mu_cg[i:i + 1], None, "cg")
        evals += passes[i]
        images, perturbed, names, lamdas = [x_cg[i:i + 1]], [chain_p[-1]], ["cg"], {}
        families = [("cs", 0.0, None, None)]
        if not math.isinf(float(mu_cg[i])):
            families.insert(0, ("l1", float(mu_cg[i]), raw[i:i + 1], raws_p[-1]))
        for name, m, ref, ref_p in families:
            def recon(lam, yy, m=m, ref=ref, ref_p=ref_p):
                r = ref if yy is yi else ref_p
                return l1_wavelet_solve(sub, yy, lam, sc, reference=r, mu=None if r is None else m,
                                        max_iter=o.dc_l1_iters, seeds=[i])
            lam, img, _, _ = sure_lamda(est, yi, lam0[i], recon, perturbed=perturbed)
            images.append(img)
            names.append(name)
            lamdas[name] = float(lam)
        img, w, r = est.combine(images, perturbed)
        out[i] = img[0]
        weights = dict(zip(names, [round(v, 4) for v in w]))
        chosen[i] = {"estimate": max(weights, key=weights.get), "weights": weights, "risk": r, "lamda": lamdas,
                     "mu": None if math.isinf(float(mu_cg[i])) else float(mu_cg[i])}
    if info is not None:
        info["dc_sure"] = chosen  # per item: the weights of cg, l1 around the network, plain cs; None: not applicable
    return out, evals


def _l1_lamda(physics, y: torch.Tensor, o: "UNetOptions", scale: torch.Tensor) -> torch.Tensor | None:
    if o.dc_l1 != "auto":
        return torch.full((y.shape[0],), float(o.dc_l1))
    from mrirecon.recon.weights import cs_lambda, normalised_sigma

    sig = normalised_sigma(physics, y, scale)
    return None if sig is None else cs_lambda(sig).reshape(-1).expand(y.shape[0]).cpu()


@torch.no_grad()
def _l1_consistency(physics, y: torch.Tensor, model, o: "UNetOptions", x_cg: torch.Tensor, raw: torch.Tensor,
                    mu_cg: torch.Tensor, info: dict | None) -> tuple[torch.Tensor, int]:
    """``dc_l1``: per item, the CG solve ``x_cg`` or compressed sensing around the network's raw estimate
    ``raw``, argmin ½‖Ax − y‖² + μ/2‖x − raw‖² + λ‖Ψx‖₁ with μ from ``L1_MUS`` — whichever k-space
    hold-out validation prefers. On each held-out set of ``cv_dc_mu`` the network's estimate from the kept
    lines is solved both ways (the CG solve with the item's weight ``mu_cg``) and the held-out lines are
    predicted; the L1 solve of least mean error replaces the CG solve where its mean error is lower by more
    than ``L1_SE`` standard errors of the difference. (The held-out sets use the first pass's estimate;
    the final solve uses the chosen pass's.) The aim: where the data alone say more than the network
    (high SNR), CS with a small μ; where they are noisy or scarce, the CG solve around the network. The
    ranking is imperfect (docs/benchmarks.md, round 16): held-out lines rank plain CS worse than its image
    error, and at R=8 with equispaced masks they prefer the L1 solve where it loses up to 0.7 dB — which
    is why ``dc_l1`` is off by default. With ``dc_l1_mu="dc"`` the CG solve's weight ``mu_cg`` is the L1 solve's
    μ, and no held-out sets are run. Returns the image and the network evaluations of the held-out sets."""
    from mrirecon.recon.common import measurement_scale
    from mrirecon.recon.cs import l1_wavelet_solve

    b = y.shape[0]
    scale = measurement_scale(physics, y)
    lam = _l1_lamda(physics, y, o, scale)
    if lam is None:
        return x_cg, 0
    if o.dc_l1_mu == "dc":  # the CG solve's weight; mu = inf (the estimate kept) keeps the CG solve
        mus, evals = [None if math.isinf(v) else v for v in mu_cg.tolist()], 0
    else:
        mus, evals = _l1_cv_weights(physics, y, model, o, lam, scale, mu_cg), o.cv_folds
        if mus is None:
            return x_cg, 0
    out = x_cg.clone()
    taken = [i for i in range(b) if mus[i] is not None]
    if taken:
        out[taken] = l1_wavelet_solve(physics.select(taken), y[taken], lam[taken], scale[taken], reference=raw[taken],
                                      mu=[mus[i] for i in taken], max_iter=o.dc_l1_iters, seeds=taken)
    if info is not None:
        info["dc_l1_lamda"] = [float(v) for v in lam.tolist()]
        info["dc_l1_mu"] = mus  # None: the CG solve kept
    return out, evals


def _l1_cv_weights(physics, y: torch.Tensor, model, o: "UNetOptions", lam: torch.Tensor, scale: torch.Tensor,
                   mu_cg: torch.Tensor) -> list | None:
    """``dc_l1_mu="cv"``: per item the weight of ``L1_MUS`` whose L1 solve the held-out sets prefer to the CG
    solve (None: the CG solve kept); None when no item has lines to hold out."""
    from mrirecon.data.masks import holdout_splits
    from mrirecon.recon.cs import l1_wavelet_solve

    b = y.shape[0]
    splits = [holdout_splits(physics.item_mask(i), o.cv_folds, o.cv_fraction) for i in range(b)]
    items = [i for i in range(b) if splits[i]]
    if not items:
        return None
    errs = torch.zeros(o.cv_folds, len(items), 1 + len(L1_MUS))  # column 0: the CG solve
    for f, (op_keep, y_keep, op_held, y_held, u) in enumerate(_holdout_folds(physics, y, model, o, items, splits)):
        errs[f, :, 0] = _held_error(op_held, y_held, _dc(op_keep, y_keep, u, mu_cg[items], o.dc_iters))
        for j, m in enumerate(L1_MUS):
            xl = l1_wavelet_solve(op_keep, y_keep, lam[items], scale[items], reference=u, mu=m, max_iter=o.dc_l1_iters,
                                  seeds=items)
            errs[f, :, 1 + j] = _held_error(op_held, y_held, xl)
    mean = errs.mean(0)
    best = mean[:, 1:].argmin(1)
    diff = errs[:, torch.arange(len(items)), 1 + best] - errs[:, :, 0]  # (folds, items): L1 minus CG
    se = diff.std(0) / o.cv_folds ** 0.5 if o.cv_folds > 1 else torch.zeros(len(items))
    take = diff.mean(0) + L1_SE * se < 0
    mus = [None] * b
    for k, i in enumerate(items):
        if bool(take[k]):
            mus[i] = L1_MUS[int(best[k])]
    return mus


@register("unet", UNetOptions, networks=("unet",), summary="feed-forward U-Net (+ CG data consistency)")
def solve(physics, y: torch.Tensor, prior=None, *, init=None, options: UNetOptions | None = None,
          generator=None, callback=None) -> Result:
    """``prior``: the U-Net network (``mrirecon.models.unet.UNet``); returns a complex ``Result``."""
    if prior is None:
        raise ValueError("the unet method needs its network: solve(A, y, prior=<U-Net>)")
    info: dict = {}
    x = reconstruct(physics, y, prior, options, info)
    return Result(image=x, nfe=info["evaluations"], info=info)


# ------------------------------------------------------------------------------------------ SR
@dataclasses.dataclass
class UNetSROptions(Options):
    final_dc: str = opt("replace", "after the network: replace (the exact projection onto the images consistent "
                        "with the low-resolution input) or none", choices=("replace", "none"))
    tta: int = opt(1, "test-time ensemble: the network on 1, 2, 4 or 8 flips / transposes of its input, undone and "
                      "averaged before the consistency projection (network evaluations x tta)", min=1, max=8)
    shifts: int = opt(1, "test-time ensemble over the network's down-sampling grid: the input shifted by shifts "
                         "offsets per axis spread over one pooling period (16 px), undone and averaged with the "
                         "tta transforms (network evaluations x shifts^2)", min=1, max=4)

    def __post_init__(self):
        super().__post_init__()
        if self.tta not in (1, 2, 4, 8):
            raise ValueError(f"UNetSROptions.tta must be 1, 2, 4 or 8, got {self.tta}")


#: the dihedral transforms of an image ``(..., H, W)``: bit 0 flips W, bit 1 flips H, bit 2 transposes first
def _dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    if k & 4:
        x = x.transpose(-1, -2)
    if k & 1:
        x = x.flip(-1)
    return x.flip(-2) if k & 2 else x


def _undihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    if k & 2:
        x = x.flip(-2)
    if k & 1:
        x = x.flip(-1)
    return x.transpose(-1, -2) if k & 4 else x


def pooling_period(model) -> int:
    config = model.config_dict() if hasattr(model, "config_dict") else {}
    return 2 ** int(config.get("num_pool_layers", 4))


def grid_offsets(model, n: int) -> list[int]:
    """``n`` offsets spread over the network's pooling period (2^levels pixels): the phases of its
    down-sampling grid that the shift ensemble averages over."""
    return [k * pooling_period(model) // n for k in range(n)]


def _shift(x: torch.Tensor, a: int, b: int, period: int) -> torch.Tensor:
    """``x`` placed ``a`` / ``b`` pixels down / right in a frame whose size is a multiple of ``period``
    (mirrored borders), so the network pads nothing more and its pooling grid sits exactly ``a`` / ``b``
    pixels off the image's."""
    h, w = x.shape[-2:]
    ph, pw = (-(h + a)) % period, (-(w + b)) % period
    if not (a or b or ph or pw):
        return x
    mode = "reflect" if max(a, ph) < h and max(b, pw) < w else "replicate"
    return torch.nn.functional.pad(x, (b, pw, a, ph), mode=mode)


def _unshift(x: torch.Tensor, a: int, b: int, shape) -> torch.Tensor:
    return x[..., a:a + shape[-2], b:b + shape[-1]]


def is_sr_network(model) -> bool:
    return (getattr(model, "meta", {}) or {}).get("task") == "sr"


@torch.no_grad()
def reconstruct_sr(physics, y: torch.Tensor, model, options: UNetSROptions | None = None) -> torch.Tensor:
    """The SR U-Net's estimate ``(batch, H, W)`` from the low-resolution ``y`` (real; a complex ``y``
    gives the estimate of its real part, as a complex image): the network maps the operator's cubic
    upsampling (its training input) to the high-resolution image, at the input's own scale."""
    o = options or UNetSROptions()
    was_complex = y.is_complex()
    yr = (y.real if was_complex else y).float()
    up = physics.upsample(yr)
    scale = up.abs().flatten(1).amax(1).clamp_min(1e-12)
    dev = next(model.parameters()).device
    u = (up / bshape(scale, up))[:, None].to(dev)
    if o.shifts == 1:
        x = sum(_undihedral(model(_dihedral(u, k)), k) for k in range(o.tta)) / o.tta
    else:
        offsets, period = grid_offsets(model, o.shifts), pooling_period(model)
        x = sum(_unshift(_undihedral(model(_dihedral(_shift(u, a, b, period), k)), k), a, b, u.shape)
                for a in offsets for b in offsets for k in range(o.tta)) / (o.tta * len(offsets) ** 2)
    x = x[:, 0].to(yr.device) * bshape(scale, up)
    if o.final_dc == "replace":
        x = physics.consistency(x, yr)
    return x.to(torch.complex64) if was_complex else x


@register("unet", UNetSROptions, task="sr", networks=("srnet",),
          summary="feed-forward SR U-Net (+ exact consistency projection)")
def solve_sr(physics, y: torch.Tensor, prior=None, *, init=None, options: UNetSROptions | None = None,
             generator=None, callback=None) -> Result:
    """``prior``: the SR U-Net (``mrirecon train srnet``); returns a real ``Result``."""
    if prior is None or not is_sr_network(prior):
        raise ValueError("the sr unet method needs the SR U-Net (weights with meta task='sr', from `mrirecon train "
                         "srnet`): solve(op, y, prior=<SR U-Net>)")
    o = options or UNetSROptions()
    return Result(image=reconstruct_sr(physics, y, prior, o), nfe=o.tta * o.shifts ** 2)
