"""Random smooth phase and geometric / intensity augmentation on torch tensors (batch-first)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def smooth_phase(shape: tuple[int, int], generator: torch.Generator | None = None, *,
                 max_amplitude: float = math.pi, cutoff: float = 0.04, batch: int = 1) -> torch.Tensor:
    """Smooth random phase maps ``(batch, H, W)`` in radians.

    A Gaussian white field low-pass filtered in k-space (Gaussian of relative width ``cutoff``),
    scaled to a random peak amplitude in [0, max_amplitude], plus a random global offset in [-π, π).
    """
    h, w = shape
    noise = torch.randn((batch, h, w), generator=generator)
    ky = torch.fft.fftfreq(h)[:, None]
    kx = torch.fft.fftfreq(w)[None, :]
    filt = torch.exp(-(kx ** 2 + ky ** 2) / (2 * cutoff ** 2))
    field = torch.fft.ifft2(torch.fft.fft2(noise) * filt).real
    field = field / field.flatten(1).abs().amax(1).clamp_min(1e-8)[:, None, None]
    amp = torch.rand((batch, 1, 1), generator=generator) * max_amplitude
    offset = (torch.rand((batch, 1, 1), generator=generator) * 2 - 1) * math.pi
    return field * amp + offset


def elastic_field(b: int, h: int, w: int, generator: torch.Generator | None = None, *, max_std: float = 0.04,
                  control: int = 5) -> torch.Tensor:
    """Smooth random displacements ``(b, h, w, 2)`` in ``grid_sample`` units (the image spans [−1, 1]):
    Gaussian values on a ``control × control`` grid, a per-item standard deviation drawn uniformly in
    ``[0, max_std]``, upsampled bicubically (SynthSeg's nonlinear deformation, without the velocity
    integration: at these amplitudes the map stays one-to-one — ``max_std`` 0.04 is ~2.6 px at 128 px
    over control points ~32 px apart)."""
    amp = torch.rand(b, generator=generator) * max_std
    coarse = torch.randn(b, 2, control, control, generator=generator) * amp[:, None, None, None]
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)


def random_affine(x: torch.Tensor, generator: torch.Generator | None = None, *, max_rot_deg: float = 10.0,
                  scale: tuple[float, float] = (0.9, 1.1), flip: bool = True, elastic: float = 0.0) -> torch.Tensor:
    """Random flips, small rotation and zoom of real images ``(batch, C, H, W)``; ``elastic`` > 0 adds a
    smooth nonlinear deformation (``elastic_field``, its ``max_std``) in the same resampling."""
    b = x.shape[0]
    if flip:
        fl = torch.rand(b, generator=generator) < 0.5
        x = torch.where(fl[:, None, None, None], x.flip(-1), x)
        fu = torch.rand(b, generator=generator) < 0.5
        x = torch.where(fu[:, None, None, None], x.flip(-2), x)
    ang = (torch.rand(b, generator=generator) * 2 - 1) * math.radians(max_rot_deg)
    s = scale[0] + torch.rand(b, generator=generator) * (scale[1] - scale[0])
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(b)], 1),
                         torch.stack([sin, cos, torch.zeros(b)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if elastic > 0:
        grid = grid + elastic_field(b, x.shape[-2], x.shape[-1], generator, max_std=elastic)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_crop(x: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Independent random crops ``size × size`` of ``(batch, C, H, W)``."""
    b, _, h, w = x.shape
    if size >= h and size >= w:
        return x
    ys = torch.randint(0, h - size + 1, (b,), generator=generator).tolist()
    xs = torch.randint(0, w - size + 1, (b,), generator=generator).tolist()
    return torch.stack([x[i, :, y:y + size, xx:xx + size] for i, (y, xx) in enumerate(zip(ys, xs))])


def rot90(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random multiple of 90° per item of ``(batch, C, H, W)`` (square images)."""
    k = torch.randint(0, 4, (x.shape[0],), generator=generator).tolist()
    return torch.stack([torch.rot90(x[i], k[i], (-2, -1)) for i in range(x.shape[0])])


def bias_field(shape: tuple[int, int], generator: torch.Generator | None = None, *, strength: float = 0.3,
               grid: int = 4) -> torch.Tensor:
    """A smooth multiplicative intensity field ``(H, W)``: exp of a bicubic-upsampled ``grid × grid``
    Gaussian field with standard deviation up to ``strength`` (the receive-field inhomogeneity that
    N4 corrects, as SynthSeg simulates it)."""
    s = float(torch.rand(1, generator=generator)) * strength
    coarse = torch.randn((1, 1, grid, grid), generator=generator) * s
    field = F.interpolate(coarse, size=shape, mode="bicubic", align_corners=True)[0, 0]
    return torch.exp(field)


def _piecewise_linear(u: torch.Tensor, knots_y: torch.Tensor) -> torch.Tensor:
    n = len(knots_y) - 1
    pos = u.clamp(0, 1) * n
    i = pos.floor().clamp(max=n - 1).long()
    frac = pos - i
    return knots_y[i] * (1 - frac) + knots_y[i + 1] * frac


def intensity_remap(u: torch.Tensor, generator: torch.Generator | None = None, *, monotone: bool,
                    knots: int = 6, air: float = 0.04) -> torch.Tensor:
    """Remap the object's intensities of a ``[0, 1]`` magnitude image with a random curve.

    ``monotone``: a random increasing piecewise-linear curve (contrast stretch / gamma-like);
    otherwise a random non-monotone one (contrast inversions as between T1, T2 and PD). Air (below
    ``air`` of the peak) stays dark, with a smooth transition, as it does in every MR contrast.
    """
    if monotone:
        inc = torch.rand(knots, generator=generator) + 0.05
        ys = torch.cat([torch.zeros(1), torch.cumsum(inc, 0)])
        ys = ys / ys[-1]
    else:
        ys = torch.cat([torch.zeros(1), 0.1 + 0.9 * torch.rand(knots, generator=generator)])
    out = _piecewise_linear(u, ys)
    gate = ((u - air) / air).clamp(0, 1)  # 0 in air, 1 from 2·air on
    return out * gate + u * (1 - gate)


def gaussian_blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (std ``sigma`` px, kernel radius ⌊3σ + 1⌋, zero borders) of an ``(H, W)`` image."""
    r = int(3 * sigma + 1)
    xs = torch.arange(-r, r + 1, dtype=torch.float32)
    ker = torch.exp(-xs ** 2 / (2 * sigma ** 2))
    ker = ker / ker.sum()
    img = F.conv2d(img[None, None], ker[None, None, None, :], padding=(0, r))
    return F.conv2d(img, ker[None, None, :, None], padding=(r, 0))[0, 0]


def tissue_synthesis(u: torch.Tensor, generator: torch.Generator | None = None, *, classes: tuple[int, int] = (4, 8),
                     air: float = 0.04) -> torch.Tensor:
    """SynthSeg-style contrast synthesis on a ``[0, 1]`` T1-like magnitude image.

    The image is segmented into ``K`` tissue classes by intensity (cut points at random quantiles of
    the object's intensities — for slices without tissue maps (``tissue_map_synthesis``): intensity
    classes of a T1 image separate CSF, grey and white matter, fat and skull); every class gets one random intensity, the
    result is blurred with a random Gaussian (partial volume) and mixed with a little of the original
    texture. Air stays air.
    """
    k = int(torch.randint(classes[0], classes[1] + 1, (1,), generator=generator))
    fg = u[u > air]
    if fg.numel() < 16:
        return u
    probs = torch.sort(torch.rand(k - 1, generator=generator))[0]
    cuts = torch.quantile(fg[:: max(1, fg.numel() // 20000)], probs)
    labels = torch.bucketize(u, cuts)
    levels = 0.1 + 0.9 * torch.rand(k, generator=generator)
    img = levels[labels] * (u > air).float()
    img = gaussian_blur(img, 0.3 + float(torch.rand(1, generator=generator)) * 1.2)
    texture = float(torch.rand(1, generator=generator)) * 0.3
    return (1 - texture) * img + texture * u * img.mean() / u[u > air].mean().clamp_min(1e-6)


def tissue_map_synthesis(u: torch.Tensor, tissue: torch.Tensor, generator: torch.Generator | None = None, *,
                         air: float = 0.04) -> torch.Tensor:
    """SynthSeg / SynthSR-style contrast synthesis from tissue probability maps.

    ``tissue`` ``(C, H, W)``: per-pixel class probabilities (grey matter, white matter, CSF; zero in
    air) on the grid of the ``[0, 1]`` image ``u``. Every class gets one random intensity and a pixel
    is the probability-weighted sum — partial volume mixes the tissue signals linearly, as it does in
    a scanner, so T2-, PD- and FLAIR-like orderings come with physical boundaries. A small Gaussian
    blur (0–0.8 px: the templates' maps are already smooth) and a little of the original texture
    follow, as in ``tissue_synthesis``. The maps sum to one inside the object and are zero in air
    (``data.prepare.tissue_probabilities``), so the object's edge is the maps' own partial volume.
    """
    c = tissue.shape[0]
    levels = 0.1 + 0.9 * torch.rand(c, generator=generator)
    img = (tissue * levels[:, None, None]).sum(0)  # the maps sum to one in the object, fall to zero in air
    sigma = float(torch.rand(1, generator=generator)) * 0.8
    if sigma > 0.05:
        img = gaussian_blur(img, sigma) * tissue.sum(0).clamp(0, 1)  # not into air
    texture = float(torch.rand(1, generator=generator)) * 0.3
    fg = u > air
    if not fg.any():
        return img
    return (1 - texture) * img + texture * u * img[fg].mean() / u[fg].mean().clamp_min(1e-6)


#: the robust recipe's contrast shares: (tissue-class synthesis, non-monotone remap, monotone remap); the
#: rest keeps the contrast
CONTRAST_PROBS = (0.25, 0.3, 0.3)


def augment_contrast(u: torch.Tensor, generator: torch.Generator | None = None, *,
                     remap_prob: float = CONTRAST_PROBS[2], nonmonotone_prob: float = CONTRAST_PROBS[1],
                     synth_prob: float = CONTRAST_PROBS[0], bias_prob: float = 0.5,
                     bias_strength: float = 0.3, tissue: torch.Tensor | None = None,
                     mask_prob: float = 0.0) -> torch.Tensor:
    """The contrast part of the robust recipe on one ``[0, 1]`` magnitude image ``(H, W)``: one of
    tissue-class synthesis / non-monotone remap / monotone remap / unchanged, then a bias field;
    the peak is renormalised to 1. With ``tissue`` (the slice's probability maps, ``(C, H, W)``) the
    synthesis mixes the classes by their maps (``tissue_map_synthesis``), else it classes by intensity.
    ``mask_prob``: the share of items that are then masked hard (``object_mask``: skull-stripped or
    background-masked images, whose object edge is a step); with 0 no draw is made, so the stream
    of every other draw is the one without this option."""
    u0 = u
    r = float(torch.rand(1, generator=generator))
    if r < synth_prob:
        u = tissue_synthesis(u, generator) if tissue is None else tissue_map_synthesis(u, tissue, generator)
    elif r < synth_prob + nonmonotone_prob:
        u = intensity_remap(u, generator, monotone=False)
    elif r < synth_prob + nonmonotone_prob + remap_prob:
        u = intensity_remap(u, generator, monotone=True)
    if mask_prob > 0 and float(torch.rand(1, generator=generator)) < mask_prob:
        u = object_mask(u, u0, generator)
    if float(torch.rand(1, generator=generator)) < bias_prob:
        u = u * bias_field(tuple(u.shape[-2:]), generator, strength=bias_strength)
    return u.clamp_min(0) / u.amax().clamp_min(1e-6)


def object_mask(u: torch.Tensor, ref: torch.Tensor, generator: torch.Generator | None = None,
                threshold: tuple[float, float] = (0.03, 0.15)) -> torch.Tensor:
    """``u`` set to zero wherever the T1-like ``ref`` (peak 1) is below a random threshold (uniform in
    ``threshold``, fractions of the peak): the hard, one-pixel object edge of skull-stripped or
    background-masked images (processing pipelines, some scanners' outputs), which a smooth remap's
    air transition never produces."""
    lo, hi = threshold
    t = lo + float(torch.rand(1, generator=generator)) * (hi - lo)
    return u * (ref >= t * ref.amax().clamp_min(1e-6)).to(u.dtype)
