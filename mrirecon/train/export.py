"""Copy trained checkpoints into the shipped defaults (mrirecon/weights/{unet,prior,sr3,srnet}) with model cards.

    mrirecon train export [--unet checkpoints/unet] [--prior checkpoints/prior]
        [--prior-bench bench_out/robust/*.json] [--sr3 checkpoints/sr3 --sr3-bench bench_out/sr_volume.json]
        [--srnet checkpoints/srnet --sr-bench bench_out/sr_volume.json] [--only sr3] [--half]

Each network: ``<run>/best`` (best by validation; EMA weights for the prior) when present, else the
last EMA / model weights of older runs. The U-Net's meta gains ``eps0_mean`` (the mean validation
error used by CCDF's t0="auto"). ``--prior-bench`` adds the per-cell robustness-matrix table that
``benchmarks/bench_robust.py`` wrote (its CCDF and full-diffusion columns) to the prior's card. ``--sr3-bench`` / ``--sr-bench`` add the table that
``benchmarks/bench_sr_volume.py`` wrote to the SR3 / SR U-Net card. Each folder gets a MODEL_CARD.md
with data, steps, wall time and validation figures. Run from a checkout (the defaults are relative to
the working directory).
"""
import argparse
import json
from pathlib import Path

import numpy as np

from mrirecon.data.augment import CONTRAST_PROBS
from mrirecon.models.io import load_model, save_model


def robust_data(probs, elastic: float, tissue_maps: bool, mask_prob: float = 0.0) -> str:
    """The robust recipe's training distribution, with its contrast shares ``probs``, the largest std of
    its nonlinear deformation ``elastic`` (0: none), whether the synthesis used the tissue maps and the
    share of hard-masked items ``mask_prob``."""
    synth, nonmono, mono = (100 * float(p) for p in probs)
    masked = (f"; then {100 * mask_prob:.0f} % of the items masked hard below a random 3–15 % of the T1 peak "
              "(skull-stripped / background-masked images)" if mask_prob > 0 else "")
    deform = f", a smooth nonlinear deformation of std up to {elastic:g} half fields of view" if elastic > 0 else ""
    classes = ("on the 377 MNI 2009a slices the template's grey / white\n  matter / CSF probability maps mixed "
               "linearly, elsewhere 4–8 intensity classes with a Gaussian blur" if tissue_maps else
               "4–8 intensity classes with a Gaussian blur")
    return f"""`mrirecon data prepare` training split (MNI ICBM152 2009a, FSL MNI152, pydeface mean head; 1,479 slices
  at 128², three orientations) through the robust recipe (`mrirecon.data.robust`, `--recipe robust`), every draw
  seeded per item: geometry (flips, 90° rotations, ±10° rotation, zoom 0.85–1.15{deform}); contrast — {synth:.0f} %
  tissue-class synthesis (one random intensity per class: {classes}; a little original
  texture), {nonmono:.0f} % non-monotone and {mono:.0f} % monotone random intensity remaps, the rest unchanged{masked} — and a
  bias field on half the items; random smooth phase"""




def run_robust_data(cfg: dict) -> str:
    """``robust_data`` of a run's recorded config: a run recorded before the nonlinear deformation and
    the tissue maps existed (no ``elastic`` / ``tissue_maps`` key) had neither."""
    return robust_data(cfg.get("contrast_probs") or CONTRAST_PROBS, float(cfg.get("elastic") or 0.0),
                       bool(cfg.get("tissue_maps", False)), float(cfg.get("mask_prob") or 0.0))
BASIC_DATA = """`mrirecon data prepare` training split (MNI ICBM152 2009a, FSL MNI152, pydeface mean head; 1,479 slices
  at 128², three orientations); random smooth phase, flips/rotation/zoom"""


UNET_ROBUST = """; acquisition — 30 % single-coil, else 2–16 coils, half birdcage maps (radius
  0.6–1.6), half surface loops at random positions on an ellipse; a quarter of the multi-coil inputs use ESPIRiT maps
  estimated from the undersampled ACS lines (as at inference), the rest the true maps; SNR 15–50 dB, 10 % noiseless;
  masks fastMRI random / equispaced or Gaussian, R uniform in 2–10, centre fraction 0.32/R. The network is
  noise-blind (no σ, no R input)."""
def unet_basic_data(cfg: dict) -> str:
    """The basic recipe's acquisition text for a run's recorded config (its SNR / coil / radius ranges,
    defaults where a run predates them)."""
    snr = cfg.get("snr_range", (25.0, 40.0))
    coils = cfg.get("coil_range", (4, 12))
    radius = cfg.get("radius_range", (1.0, 1.4))
    mc = float(cfg.get("multicoil_prob", 0.5))
    acc = cfg.get("accelerations", (4, 8))
    cf = cfg.get("center_fractions", (0.08, 0.04))
    kinds = " / ".join(cfg.get("mask_types", ("random",)))
    est = float(cfg.get("estimated_maps_prob", 0.0))
    est = (f"; {est:.0%} of the multi-coil inputs use coil maps estimated from the undersampled k-space (as at inference), "
           "the rest the true maps") if est else ""
    return (f"; {1 - mc:.0%} single-coil, else {coils[0]}–{coils[1]}-coil birdcage maps (radius {radius[0]:g}–{radius[1]:g} "
            f"of the field of view), complex noise {snr[0]:g}–{snr[1]:g} dB{est}. Masks: fastMRI {kinds},\n"
            f"  R ∈ {{{', '.join(str(int(r)) for r in acc)}}} with centre fractions {' / '.join(f'{c:g}' for c in cf)}, "
            "drawn on the fly.")


def _pick(run: Path, *fallbacks: str) -> Path | None:
    for sub in ("best", *fallbacks):
        if (run / sub / "config.json").exists():
            return run / sub
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="mrirecon train export", description="export trained weights with model cards")
    p.add_argument("--unet", default="checkpoints/unet")
    p.add_argument("--prior", default="checkpoints/prior")
    p.add_argument("--dest", default="mrirecon/weights")
    p.add_argument("--prior-bench", nargs="*", default=None,
                   help="bench_robust.py result files (JSON) for the prior card's per-cell validation table")
    p.add_argument("--prior-bench-labels", default="",
                   help="column names for that table, 'bench column=label;...' (e.g. 'ccdf dc auto new=ccdf'); "
                        "columns without a label keep their name")
    p.add_argument("--sr3", default="checkpoints/sr3")
    p.add_argument("--sr3-bench", default=None, help="bench_sr_volume.py rows (JSON) for the SR3 card's table")
    p.add_argument("--srnet", default="checkpoints/srnet")
    p.add_argument("--sr-bench", default=None, help="bench_sr_volume.py rows (JSON) for the SR U-Net card's table")
    p.add_argument("--only", default="unet,prior,sr3,srnet", help="comma-separated subset to export")
    p.add_argument("--half", action="store_true", help="store fp16 (loaded back as fp32)")
    a = p.parse_args(argv)
    dest = Path(a.dest)
    only = set(a.only.split(","))
    if "unet" in only and _pick(Path(a.unet)):
        export_unet(Path(a.unet), dest, a.half)
    if "prior" in only and _pick(Path(a.prior), "last/ema"):
        export_prior(Path(a.prior), dest, a.half, a.prior_bench, parse_labels(a.prior_bench_labels))
    if "sr3" in only and _pick(Path(a.sr3), "model"):
        export_sr3(Path(a.sr3), dest, a.half, a.sr3_bench)
    if "srnet" in only and _pick(Path(a.srnet)):
        export_srnet(Path(a.srnet), dest, a.half, a.sr_bench)
    return 0


def _loss_text(loss: str) -> str:
    return {"psnr": "PSNR (the mean over items of 10 log10 MSE: each item counts by its dB)",
            "ssim": "1 - SSIM + 0.1 L1"}.get(loss, "L1")


def export_unet(run: Path, dest: Path, half: bool) -> None:
    net = load_model(_pick(run))
    meta = dict(net.meta)
    meta["eps0"] = {k: v for k, v in meta.get("eps0", {"x": 0.01}).items() if k != "mix"}  # fixed-R sets only
    meta["eps0_mean"] = float(np.mean(list(meta["eps0"].values())))
    state = json.loads((run / "last" / "state.json").read_text())
    out = save_model(net, dest / "unet", meta=meta, half=half)
    v = meta.get("validation", {})
    rows = "\n".join(f"| {k} | {r['zf_PSNR']:.2f} | {r['PSNR']:.2f} | {r['SSIM']:.4f} |" for k, r in v.items())
    data = ((run_robust_data(state.get("config", {})) + UNET_ROBUST) if meta.get("recipe") == "robust"
            else (BASIC_DATA + unet_basic_data(state.get("config", {}))))
    (out / "MODEL_CARD.md").write_text(f"""# mrirecon default U-Net initializer

- Architecture: fastMRI-style U-Net, config {json.dumps(net.config_dict())}, {sum(p.numel() for p in net.parameters()):,} parameters.
- Input / output: complex image as 2 channels (real, imag), normalised by the input's peak. Input: the
  zero-filled image for single-coil data; for multi-coil data {json.dumps(meta.get("input", {"mode": "adjoint"}))}
  ("sense": CG-SENSE argmin |Ax-y|^2 + mu|x|^2, iters CG steps, so parallel imaging unfolds the aliasing first;
  sigma_ref: the 95th percentile of the training inputs' sigma_n, above which inference raises mu with sigma_n^2,
  models.unet.sense_input_mu; with mu_min, mu follows sigma_n^2 both ways, down to mu_min).
- Training history: {json.dumps(state.get("switches", []))} (switches of input mode or training recipe: trained on
  A^H y inputs until step 1550, then fine-tuned on the CG-SENSE inputs, and from the recipe switch on the robust
  distribution; the best checkpoint is chosen after the last switch).
- Data: {data}
- Loss: {_loss_text(state.get("config", {}).get("loss", "l1"))}.
- Selected checkpoint: step {meta.get('trained_steps')} of {state['step']} trained (best mean validation PSNR),
  wall time {meta.get('wall_seconds')} s at that step on 1 CPU thread (2-core machine, sharing it with the prior's training).
- Validation (48 Colin27 slices, magnitude PSNR / SSIM at the network scale; R4 / R8: fixed random masks,
  half 4–12-coil birdcage, 25–40 dB; mix: the robust recipe's distribution with fixed seeds; R4@<SNR>dB: the
  training option val_high_snr, 8–15 coils of radius 0.7–1.0 at that SNR, fixed random masks):

| set | zero-filled PSNR | U-Net PSNR | U-Net SSIM |
|---|---|---|---|
{rows}

- eps0_mean (mean squared magnitude error at the network scale, used by CCDF t0="auto"): {meta['eps0_mean']:.5f}
- Reproduce: `mrirecon train unet --threads 1 --out checkpoints/unet` then `mrirecon train export --only unet`.
""")
    print("unet ->", out)

def export_prior(run: Path, dest: Path, half: bool, bench_files=None, labels: dict | None = None) -> None:
    net = load_model(_pick(run, "last/ema"))
    state = json.loads((run / "last" / "state.json").read_text())
    meta = dict(net.meta)
    out = save_model(net, dest / "prior", meta=meta, half=half)
    hist = [h for h in state["history"] if "denoise_psnr" in h]
    curve = "\n".join(f"| {h['step']} | {h['wall_s']:.0f} | " + " | ".join(f"{v:.2f}" for v in h["denoise_psnr"].values()) + " |"
                      for h in hist)
    ts = list(hist[-1]["denoise_psnr"]) if hist else []
    bench = matrix_bench(bench_files, ("ccdf", "diffusion"), labels) if bench_files else ""
    resumes = resume_line(state)
    (out / "MODEL_CARD.md").write_text(f"""# mrirecon default diffusion prior

- Architecture: `diffusers.UNet2DModel` (no attention, fully convolutional), config {json.dumps(net.config_dict())},
  {sum(p.numel() for p in net.parameters()):,} parameters; EMA weights (decay {state['config']['ema']}).
- Task: ε-prediction MSE on complex images as 2 channels; VP/DDPM schedule {json.dumps(meta.get('schedule'))}.
- Data: {(run_robust_data(state.get("config", {})) if meta.get("recipe") == "robust" else BASIC_DATA)}; random 64×64 crops of whole-slice-normalised
  complex images, intensity 0.8–1.1.
- Scale of the data: images with peak magnitude about 1 — for MRI, k-space divided by max|Aᴴy| (every mrirecon
  solver does this before calling the prior; `mrirecon.interop.deepinv` documents the same for deepinv users).
  `prior.denoise(x, sigma)` is Tweedie's estimate at the timestep nearest to σ (`schedule.t_for_sigma`).
- Training timesteps: {state['config']['t_sampling']} (half uniform over [0, T), half uniform over [0, {state['config']['low_frac']}·T)).
- Exported: step {meta.get('trained_steps')} (best by validation{' after the recipe switches ' + json.dumps(state['switches']) if state.get('switches') else ''})
  of {state['step']} trained, batch {state['config']['batch_size']}, lr {state['config']['lr']} (the last run's), wall time {state['wall_seconds']:.0f} s in all
  on 1 CPU thread (2-core machine shared with the U-Net's training and benchmarks).{resumes}
- One-step denoising PSNR (dB) of x̂₀(x_t) on 16 fixed validation crops (Colin27), by training step:

| step | wall s | {' | '.join('t=' + t for t in ts)} |
|---|---|{'---|' * len(ts)}
{curve}
{bench}
- Reproduce / resume: `mrirecon train prior --threads 1 --out checkpoints/prior` then `mrirecon train export --only prior`.
""")
    print("prior ->", out)

def _label(config: str) -> str:
    """A bench_sr config without its weights folder: ``sr3:t0=0.3,weights=x`` → ``sr3:t0=0.3``."""
    method, _, kv = config.partition(":")
    kv = ",".join(i for i in kv.split(",") if i and not i.startswith("weights="))
    return f"{method}:{kv}" if kv else method


def export_sr3(run: Path, dest: Path, half: bool, bench_json=None) -> None:
    net = load_model(_pick(run, "model"))
    state = json.loads((run / "last" / "state.json").read_text())
    cfg = state["config"]
    meta = dict(net.meta)
    out = save_model(net, dest / "sr3", meta=meta, half=half)
    loss = "\n".join(f"| {h['step']} | {h['wall_s']:.0f} | {h['loss']:.4f} |" for h in state["history"][::4] + state["history"][-1:])
    bench = _volume_bench(bench_json, ("sr3", "bicubic")) if bench_json else ""
    (out / "MODEL_CARD.md").write_text(f"""# mrirecon default SR3 super-resolution network

- Architecture: `diffusers.UNet2DModel` on 2 channels (noisy HR image, bicubic-upsampled LR condition),
  conditioned on the continuous noise level √γ, config {json.dumps(net.config_dict())},
  {sum(p.numel() for p in net.parameters()):,} parameters.
- Task: SR3 (Saharia et al.): ε-prediction with {cfg['loss'].upper()} loss, √γ drawn uniformly between √ᾱ_(t−1) and √ᾱ_t
  for a uniform t; VP schedule {json.dumps(meta.get('schedule'))}.
- Data{f" from step {state['switches'][-1]['step']} on (before: the basic distribution, box block means at ×2 / ×4 along both axes)" if state.get('switches') else ''}: {_sr_data(cfg)}
- Trained: {state['step']} steps, batch {cfg['batch_size']}, lr {cfg['lr']}, wall time {state['wall_seconds']:.0f} s on 1 CPU thread
  (2-core machine shared with other training and benchmarks, so the wall time is ~1.5–2× an idle machine's);
  history of training-distribution switches {json.dumps(state.get("switches", []))}; exported: {_pick(run, "model").name}
  (step {meta.get("trained_steps")}).
- Training loss (mean over the logging interval):

| step | wall s | loss |
|---|---|---|
{loss}
{bench}
- Reproduce / resume: `mrirecon train sr3 --threads 1 --out checkpoints/sr3` then
  `mrirecon train export --only sr3`.
""")
    print("sr3 ->", out)


def _volume_bench(bench_json, methods: tuple[str, ...]) -> str:
    """The rows of ``benchmarks/bench_sr_volume.py`` for ``methods`` as a Markdown table."""
    rows = [r for r in json.loads(Path(bench_json).read_text()) if r["method"].startswith(methods)]
    return ("\n- Benchmark (`benchmarks/bench_sr_volume.py`: Colin27, never trained on, and its T2-like remap; box "
            "degradation; in-plane on 8 axial slices, through-plane on a 48×48×100 block, both plane sets fused; "
            "volume PSNR / SSIM):\n\n| direction | contrast | factor | method | PSNR | SSIM | cubic PSNR | gain |\n"
            "|---|---|---|---|---|---|---|---|\n"
            + "\n".join(f"| {r['direction']} | {r['contrast']} | ×{r['factor']} | {_label(r['method'])} | {r['psnr']:.2f} "
                         f"| {r['ssim']:.3f} | {r['cubic_psnr']:.2f} | {r['psnr'] - r['cubic_psnr']:+.2f} |" for r in rows)
            + "\n")


def parse_labels(text: str) -> dict:
    """``--prior-bench-labels``: ``'column=label;column=label'`` → ``{column: label}``."""
    out = {}
    for item in filter(str.strip, text.split(";")):
        column, sep, label = item.partition("=")
        if not sep or not column.strip() or not label.strip():
            raise SystemExit(f"--prior-bench-labels: {item!r} is not 'bench column=label'")
        out[column.strip()] = label.strip()
    return out


def matrix_bench(files, prefixes: tuple[str, ...], labels: dict | None = None) -> str:
    """The cells of ``benchmarks/bench_robust.py`` result files as a Markdown table: one row per cell
    (contrast, SNR, coils, coil radius, R, mask; a cell in several files: the later file's columns win),
    one column per method starting with one of ``prefixes`` (headed ``labels[name]`` where given), PSNR /
    SSIM, and per contrast each column's mean over the cells that have every column of its method (prefix), so
    that the means of one method compare (their count in brackets)."""
    labels = labels or {}
    cells: dict = {}
    for f in files:
        for r in json.loads(Path(f).read_text()):
            key = (r["contrast"], r["snr"], r["coils"], r["radius"], r["R"], r["mask"])
            cells.setdefault(key, {}).update({k: v for k, v in r["methods"].items() if k.startswith(prefixes)})
    cols = list(dict.fromkeys(k for m in cells.values() for k in m))  # in the files' order
    if not cols:
        raise ValueError(f"no {'/'.join(prefixes)} column in the benchmark files {list(map(str, files))}")
    fmt = lambda m, c: f"{m[c]['PSNR']:.2f} / {m[c]['SSIM']:.3f}" if c in m else "–"  # noqa: E731
    lines = [f"| {k[0]} | {k[1]:g} | {k[2]} | {k[3]:g} | {k[4]} | {k[5]} | " + " | ".join(fmt(m, c) for c in cols) + " |"
             for k, m in sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], -kv[0][3], kv[0][4], kv[0][5]))]
    family = {c: [d for d in cols if d.startswith(next(p for p in prefixes if c.startswith(p)))] for c in cols}
    means = []
    for con in sorted({k[0] for k in cells}):
        def mean(c, con=con):  # over the cells that have every column of c's method family: comparable means
            v = [m[c] for k, m in cells.items() if k[0] == con and all(d in m for d in family[c])]
            return (f"{np.mean([x['PSNR'] for x in v]):.2f} / {np.mean([x['SSIM'] for x in v]):.3f} ({len(v)})" if v
                    else "–")
        means.append(f"| mean, {con} (cells) | | | | | | " + " | ".join(mean(c) for c in cols) + " |")
    return ("\n- Robustness matrix (`benchmarks/bench_robust.py`, each method at its defaults, CCDF from the shipped U-Net; "
            "Colin27 slices never used in training, 2 per cell unless the benchmark was given --slices, PSNR / "
            "SSIM against the noiseless image; coils 1: single-coil; radius: birdcage radius, 0.8 localised, 1.5 broad):\n\n"
            f"| contrast | SNR dB | coils | radius | R | mask | {' | '.join(labels.get(c, c) for c in cols)} |\n"
            f"|---|---|---|---|---|---|{'---|' * len(cols)}\n" + "\n".join(lines + means) + "\n")


def _sr_data(cfg: dict) -> str:
    """The SR training distribution of a run's config (SR3 and the SR U-Net share it: ``SRPairMaker``)."""
    base = (run_robust_data(cfg) if cfg.get("recipe") == "robust"
            else BASIC_DATA).replace("; random smooth phase", "")
    one = cfg.get("one_axis_prob", 0.0)
    noise = cfg.get("noise_prob")
    return (f"""{base}; magnitude images, random {cfg['crop']}×{cfg['crop']} HR crops; LR through
  `physics.sr.Degrade` — degradation drawn per item from {cfg.get('degradations', ['box'])}, factors {list(cfg['scales'])},
  {f"{one:.0%} of the items along one random in-plane axis only (SMORE-style, for through-plane SR), the rest along both"
   if one else "along both axes"}{f"; {noise:.0%} with Gaussian noise on the LR image (SNR 30–50 dB)" if noise else ""};
  input / condition = the operator's cubic upsampling of LR; each pair normalised by the HR crop's peak.""")


def _run_hardware(cfg: dict) -> str:
    """Where the run's last resume trained, from its recorded config."""
    dev, workers, threads = cfg.get("device", "auto"), cfg.get("workers", 0), cfg.get("threads")
    where = ("a GPU" if dev.startswith("cuda") else f"{threads} CPU thread{'s' if (threads or 0) > 1 else ''}" if threads
             else f"device {dev}")
    return f"the last on {where}" + (f", items made by {workers} worker processes" if workers else "") + \
        (f", {cfg['amp']} autocast" if cfg.get("amp", "none") != "none" else "")


def resume_record(state: dict) -> str:
    """The options each resume of a run changed (the checkpoint's ``resumed_with``), one clause per
    resume, each option listed only where it differs from the previous resume's record."""
    seen: dict = {}
    parts = []
    for r in state.get("resumed_with") or []:
        kv = {k: v for k, v in r.items() if k != "step" and seen.get(k) != v}
        seen.update(r)
        if kv:
            parts.append(f"step {r['step']:,}: " + ", ".join(f"{k} {v}" for k, v in kv.items()))
    return "; ".join(parts)


def resume_line(state: dict) -> str:
    """``resume_record`` as a model-card bullet (with its leading newline), or "" for a run never resumed with
    changed options."""
    rec = resume_record(state)
    return f"\n- Options changed on resume (the checkpoint's record): {rec}." if rec else ""


def export_srnet(run: Path, dest: Path, half: bool, bench_json=None) -> None:
    net = load_model(_pick(run))
    state = json.loads((run / "last" / "state.json").read_text())
    cfg = state["config"]
    meta = dict(net.meta)
    out = save_model(net, dest / "srnet", meta=meta, half=half)
    v = meta.get("validation", {})
    rows = "\n".join(f"| {k} | {r['cubic_PSNR']:.2f} | {r['PSNR']:.2f} | {r['gain']:+.2f} |" for k, r in v.items())
    names = list(v)  # the sets of the selected step; earlier runs may have validated on fewer
    curve = "\n".join(f"| {h['step']} | {h['wall_s']:.0f} | "
                      + " | ".join(f"{h['val'][k]['gain']:+.2f}" if k in h["val"] else "" for k in names) + " |"
                      for h in state["history"] if "val" in h)
    bench = _volume_bench(bench_json, ("unet", "bicubic", "ccdf")) if bench_json else ""
    resumes = resume_line(state)
    (out / "MODEL_CARD.md").write_text(f"""# mrirecon default SR U-Net (feed-forward super-resolution)

- Architecture: fastMRI-style residual U-Net on one channel, config {json.dumps(net.config_dict())},
  {sum(p.numel() for p in net.parameters()):,} parameters; output layer zero-initialised (training starts at cubic
  interpolation). Used by `mrirecon sr --method unet` and as CCDF-SR's initializer (`--option init=unet`).
- Input / output: the cubic upsampling of the LR image (`Degrade.upsample`) → the HR image, both at the input's
  intensity scale (the network normalises by the input's mean / std and undoes it); `final_dc=replace` then
  projects onto the images consistent with the LR input. One network for every factor and degradation it
  was trained on: it reads the blur from the image.
- Data: {_sr_data(cfg)}
- Loss: L1 on the HR image.
- Selected: step {meta.get('trained_steps')} of {state['step']} trained (best mean validation gain over cubic), batch
  {cfg['batch_size']}, lr {cfg['lr']} (×0.1 from step {cfg['lr_decay_steps']}), wall time {meta.get('wall_seconds')} s at that step, summed
  over the runs that trained it ({_run_hardware(cfg)}).{resumes}
- Validation (16 Colin27 slices, 120² centre, peak-normalised PSNR; `x4z` / `x5z` = one axis only, the
  through-plane case; `k` = k-space truncation, `g` = Gaussian PSF, else box; `r` / `s` = the slices in one
  fixed seeded draw of the recipe's non-monotone remap / tissue-class synthesis, else T1):

| set | cubic PSNR | SR U-Net PSNR | gain |
|---|---|---|---|
{rows}

- Gain over cubic (dB) by training step:

| step | wall s | {' | '.join(names)} |
|---|---|{'---|' * len(names)}
{curve}
{bench}
- Reproduce / resume: `mrirecon train srnet --threads 1 --out checkpoints/srnet` then
  `mrirecon train export --only srnet`.
""")
    print("srnet ->", out)
