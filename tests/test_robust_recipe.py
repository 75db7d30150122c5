"""The robust training recipe (issue 16): the distribution it draws, its contrast / coil models,
reproducibility, and that U-Net items still go through the inference input path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mrirecon.data.augment import augment_contrast, bias_field, intensity_remap, tissue_synthesis
from mrirecon.data.robust import RobustRecipe, center_fraction_for, noise_sigma
from mrirecon.data.synth import birdcage_maps, surface_coil_maps
from mrirecon.train.sources import item_generator

from conftest import phantom


def _blob(n=64):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    r = torch.sqrt(yy ** 2 + xx ** 2)
    return torch.where(r < 0.8, 0.4 + 0.6 * (r < 0.5).float() + 0.1 * torch.cos(8 * xx), torch.zeros(())).clamp(0, 1)


def test_recipe_draws_the_whole_matrix():
    rc = RobustRecipe()
    snrs, coils, models, accs, kinds = [], [], set(), set(), set()
    for j in range(300):
        g = item_generator(7, j)
        snrs.append(rc.snr(g))
        maps, desc = rc.coil_maps(32, 32, g)
        coils.append(1 if maps is None else maps.shape[0])
        models.add(next(m for m in ("single", "surface", "birdcage") if desc.startswith(m)))
        _, m = rc.mask_func(g)
        kinds.add(m.split("R")[0])
        accs.add(int(m.split("R")[1]))
    real = [s for s in snrs if s is not None]
    assert 0.03 < snrs.count(None) / len(snrs) < 0.2
    assert min(real) >= 15 and max(real) <= 50 and min(real) < 18 and max(real) > 47
    assert min(coils) == 1 and max(coils) == 16 and 0.2 < coils.count(1) / len(coils) < 0.4
    assert models == {"single", "surface", "birdcage"}
    assert accs == set(range(2, 11)) and kinds == {"random", "equispaced", "gaussian"}
    assert center_fraction_for(4) == pytest.approx(0.08) and center_fraction_for(8) == pytest.approx(0.04)


def test_coil_models_are_finite_and_scaled():
    g = torch.Generator().manual_seed(0)
    s = surface_coil_maps(8, 64, 64, g)
    rss = s.abs().pow(2).sum(0).sqrt()
    assert torch.isfinite(s).all() and rss.max() == pytest.approx(1.0, rel=1e-5)
    # localised: each coil's sensitivity varies strongly over the field of view
    assert (s.abs().flatten(1).amax(1) / s.abs().flatten(1).amin(1).clamp_min(1e-9)).min() > 5
    for r in (0.6, 0.8, 1.0, 1.6):  # radii that put a coil on a pixel centre used to give inf / NaN
        assert torch.isfinite(birdcage_maps(4, 64, 64, r)).all()


def test_contrast_augmentations():
    u = _blob()
    air = u < 0.02
    g = torch.Generator().manual_seed(1)
    inv = intensity_remap(u, g, monotone=False)
    mono = intensity_remap(u, torch.Generator().manual_seed(2), monotone=True)
    for v in (inv, mono):
        assert torch.isfinite(v).all() and v[air].abs().max() < 1e-6  # air stays air
    # monotone keeps the order of intensities inside the object
    obj = u > 0.1
    order = torch.argsort(u[obj])
    assert (torch.diff(mono[obj][order]) >= -1e-6).all()
    syn = tissue_synthesis(u, torch.Generator().manual_seed(3))
    assert torch.isfinite(syn).all() and syn.max() > 0 and not torch.allclose(syn / syn.max(), u)
    b = bias_field((64, 64), torch.Generator().manual_seed(4), strength=0.3)
    assert (b > 0).all() and b.max() / b.min() < np.exp(6 * 0.3)
    out = augment_contrast(u, torch.Generator().manual_seed(5))
    assert out.max() == pytest.approx(1.0) and out.min() >= 0


def test_some_remaps_invert_contrast():
    u = _blob()
    obj = u > 0.1
    corr = []
    for s in range(40):
        v = intensity_remap(u, torch.Generator().manual_seed(s), monotone=False)
        a, b = u[obj] - u[obj].mean(), v[obj] - v[obj].mean()
        corr.append(float((a * b).sum() / (a.norm() * b.norm() + 1e-12)))
    assert min(corr) < -0.3 and max(corr) > 0.3


def test_object_mask_gives_a_hard_edge_and_keeps_other_draws():
    from mrirecon.data.augment import object_mask

    n = 64
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    ref = (1 - torch.sqrt(yy ** 2 + xx ** 2)).clamp(0, 1)  # a smooth cone: no edge of its own
    bright = 0.5 + 0.5 * ref  # a contrast that is bright right up to the air
    m = object_mask(bright, ref, torch.Generator().manual_seed(0))
    inside, outside = m > 0, m == 0
    assert inside.any() and outside.any()
    t = ref[inside].min()
    assert (ref[outside] < t).all()  # a threshold on the reference ...
    assert m[inside].min() >= 0.5  # ... that leaves a step from 0 to at least half the peak
    assert torch.equal(m[inside], bright[inside])
    u = _blob()
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert torch.equal(augment_contrast(u, g1), augment_contrast(u, g2, mask_prob=0.0))  # no draw at 0
    masked = [augment_contrast(u, torch.Generator().manual_seed(s), mask_prob=1.0) for s in range(8)]
    assert all(torch.isfinite(x).all() and x.max() == pytest.approx(1.0) for x in masked)
    assert all((x[u < 0.03 * u.max()] == 0).all() for x in masked)
    with pytest.raises(ValueError, match="mask_prob"):
        from mrirecon.train.objectives import SRNetTrainConfig

        SRNetTrainConfig(mask_prob=1.5)


def test_noise_sigma():
    mag = _blob()
    assert noise_sigma(mag, None) == 0.0
    s20, s40 = noise_sigma(mag, 20.0), noise_sigma(mag, 40.0)
    assert s20 == pytest.approx(10 * s40)


def test_robust_unet_items_reproducible_and_through_the_inference_input(phantoms, monkeypatch):
    import mrirecon.models.unet as mu
    import mrirecon.train.datasets as tds
    from mrirecon.data.masks import RandomMaskFunc

    calls = []
    real = mu.prepare_input

    def spy(op, y, spec, info=None):
        out = real(op, y, spec, info)
        calls.append(out[0])
        return out

    monkeypatch.setattr(mu, "prepare_input", spy)  # inside network_input, the function inference calls too
    spec = {"mode": "sense", "mu": 0.01, "iters": 10}
    ds = tds.UNetSliceDataset(phantoms, RandomMaskFunc([0.08], [4]), input_spec=spec, recipe=RobustRecipe())
    a = [ds.item(0, (0, 5, j)) for j in range(6)]
    b = [ds.item(0, (0, 5, j)) for j in range(6)]
    assert len(calls) == 12
    for (xa, ta), (xb, tb), z in zip(a, b, calls):
        assert torch.equal(xa, xb) and torch.equal(ta, tb)
        assert torch.isfinite(xa).all() and torch.isfinite(ta).all()
        assert torch.equal(xa, torch.stack([z[0].real, z[0].imag]))
    assert not torch.equal(a[0][0], a[1][0])
    # validation items (fixed masks) keep the basic, comparable distribution
    fixed = tds.UNetSliceDataset(phantoms, RandomMaskFunc([0.08], [4]), input_spec=spec, recipe=RobustRecipe(),
                                 fixed_masks=True)
    assert torch.equal(fixed[0][0], fixed[0][0])


def test_recipe_switch_on_resume_restarts_best_selection():
    from mrirecon.train.objectives import PriorObjective, PriorTrainConfig

    logs = []
    state = {"step": 10, "best_score": 30.0, "config": {"recipe": "basic"}}
    PriorObjective(PriorTrainConfig(recipe="robust")).on_resume(state, logs.append)
    assert state["best_score"] is None and state["switches"] == [{"step": 10, "recipe": "robust"}]
    assert "basic -> robust" in logs[0]
    with pytest.raises(ValueError, match="recipe"):
        PriorTrainConfig(recipe="wide")


def test_recipe_contrast_probabilities_choose_the_family():
    """``contrast_probs`` (synthesis, non-monotone, monotone): all zero keeps the T1 contrast (bar the
    bias field); all synthesis gives a few intensity levels; a validation draw is fixed per slice."""
    import torch

    from mrirecon.data.robust import RobustRecipe
    from mrirecon.train.objectives import _val_contrast

    img = torch.from_numpy(phantom(64, 3)).float()
    keep = RobustRecipe(contrast_probs=(0.0, 0.0, 0.0))
    synth = RobustRecipe(contrast_probs=(1.0, 0.0, 0.0))
    a = keep.image(img, torch.Generator().manual_seed(5))
    b = synth.image(img, torch.Generator().manual_seed(5))
    assert a.shape == b.shape == img.shape and float(a.max()) == pytest.approx(1.0)
    assert not torch.allclose(a, b)
    hr = img[None].repeat(2, 1, 1)
    r1, r2 = _val_contrast(hr, "remap"), _val_contrast(hr, "remap")
    assert torch.equal(r1, r2) and not torch.allclose(r1[0], r1[1])  # fixed per slice, different slices differ
    assert torch.equal(_val_contrast(hr, "t1"), hr)


def _maps(n=64):
    """Two-class probability maps of a disc with linear partial volume at the class boundary."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    r = torch.sqrt(yy ** 2 + xx ** 2)
    obj = (r < 0.8).float()
    a = ((0.55 - r) / 0.1).clamp(0, 1) * obj  # inner class, ramping to the outer one over ~3 px
    return obj, torch.stack([a, obj - a, torch.zeros_like(a)])


def test_tissue_map_synthesis_mixes_classes_linearly():
    from mrirecon.data.augment import tissue_map_synthesis

    obj, maps = _maps()
    u = obj * (0.9 * maps[0] + 0.5 * maps[1])  # a T1-like image of these maps
    for s in range(5):
        g = torch.Generator().manual_seed(s)
        levels = 0.1 + 0.9 * torch.rand(3, generator=torch.Generator().manual_seed(s))
        out = tissue_map_synthesis(u, maps, g)
        assert torch.isfinite(out).all() and out[obj == 0].abs().max() < 1e-6  # air stays air
        pure_in, pure_out = (maps[0] > 0.999), (maps[1] > 0.999) & (obj > 0)
        ratio, want = float(out[pure_in].mean() / out[pure_out].mean()), float(levels[0] / levels[1])
        # each class its level, pulled toward u's own ratio (1.8) by at most the 30 % texture share
        assert min(want, 1.8) * 0.97 <= ratio <= max(want, 1.8) * 1.03 and abs(ratio - want) <= 0.3 * abs(1.8 - want) + 0.05
    # partial volume: between two classes the synthesis stays between their levels (no ridge)
    g = torch.Generator().manual_seed(7)
    out = tissue_map_synthesis(u, maps, g)
    mid = (maps[0] > 0.2) & (maps[0] < 0.8)
    lo, hi = sorted([float(out[maps[0] > 0.999].mean()), float(out[(maps[1] > 0.999) & (obj > 0)].mean())])
    assert float(out[mid].min()) >= lo * 0.8 and float(out[mid].max()) <= hi * 1.2


def test_recipe_moves_tissue_maps_with_the_image():
    """The geometry augmentation moves image and maps together: the synthesis with the image's own
    class levels reproduces the augmented image."""
    obj, maps = _maps()
    u = obj * (0.9 * maps[0] + 0.5 * maps[1])
    rc = RobustRecipe(contrast=False)
    for s in range(4):
        img = rc.image(u, torch.Generator().manual_seed(s))
        both = rc.image(u, torch.Generator().manual_seed(s), tissue=maps)
        torch.testing.assert_close(img, both)  # the maps do not change the image's draws
    calls = {}
    import mrirecon.data.augment as A

    real = A.tissue_map_synthesis

    def spy(x, t, g, **kw):
        calls["maps"] = t
        calls["image"] = x
        return real(x, t, g, **kw)

    A_tms, A.tissue_map_synthesis = A.tissue_map_synthesis, spy
    try:
        rc = RobustRecipe(contrast_probs=(1.0, 0.0, 0.0))
        out = rc.image(u, torch.Generator().manual_seed(3), tissue=maps)
    finally:
        A.tissue_map_synthesis = A_tms
    x, t = calls["image"], calls["maps"]
    recon = (0.9 * t[0] + 0.5 * t[1])
    recon = recon / recon.amax()
    assert float((recon - x).abs().max()) < 0.05  # same geometry applied to both
    assert torch.isfinite(out).all() and out.max() == pytest.approx(1.0)


def test_elastic_deformation_is_smooth_one_to_one_and_optional():
    from mrirecon.data.augment import elastic_field, random_affine

    f = elastic_field(32, 128, 128, torch.Generator().manual_seed(0), max_std=0.04) * 64  # pixels
    assert f.shape == (32, 128, 128, 2) and float(f.abs().max()) > 1.0
    dx, dy = torch.diff(f, dim=2)[:, :-1], torch.diff(f, dim=1)[:, :, :-1]
    jac = (1 + dx[..., 0]) * (1 + dy[..., 1]) - dx[..., 1] * dy[..., 0]
    assert float(jac.min()) > 0.2  # no folding: the deformed anatomy is still anatomy
    x = _blob()[None, None].repeat(2, 1, 1, 1)
    plain = random_affine(x, torch.Generator().manual_seed(5))
    assert torch.equal(plain, random_affine(x, torch.Generator().manual_seed(5), elastic=0.0))  # old draws kept
    warped = random_affine(x, torch.Generator().manual_seed(5), elastic=0.04)
    assert not torch.allclose(warped, plain) and torch.isfinite(warped).all()
    rc0, rc = RobustRecipe(elastic=0.0, contrast=False), RobustRecipe(contrast=False)
    u = _blob()
    assert not torch.allclose(rc0.image(u, torch.Generator().manual_seed(1)), rc.image(u, torch.Generator().manual_seed(1)))


def test_model_cards_describe_the_recipe_the_run_used():
    from mrirecon.train.export import run_robust_data

    old = run_robust_data({"recipe": "robust"})  # a run recorded before deformation and tissue maps
    new = run_robust_data({"recipe": "robust", "elastic": 0.04, "tissue_maps": True})
    assert "nonlinear deformation" not in old and "probability maps" not in old
    assert "nonlinear deformation of std up to 0.04" in new and "probability maps mixed linearly" in new
    assert "masked hard" not in new
    assert "25 % of the items masked hard" in run_robust_data({"recipe": "robust", "mask_prob": 0.25})
