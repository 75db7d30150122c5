import numpy as np
import pytest

ev = pytest.importorskip("fastmri.evaluate")

from mrirecon.eval import metrics as M


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_equal_fastmri(seed):
    rng = np.random.default_rng(seed)
    gt = rng.random((4, 40, 33)).astype(np.float32)
    pred = (gt + 0.1 * rng.standard_normal(gt.shape)).astype(np.float32)
    assert M.nmse(gt, pred) == ev.nmse(gt, pred)
    assert M.psnr(gt, pred) == ev.psnr(gt, pred)
    assert np.array_equal(M.ssim(gt, pred), ev.ssim(gt, pred))
    assert M.ssim(gt, pred, maxval=2.0) == ev.ssim(gt, pred, maxval=2.0)
    d = M.evaluate_volume(gt, pred)
    assert d["PSNR"] == pytest.approx(float(ev.psnr(gt, pred)))
    with pytest.raises(ValueError):
        M.ssim(gt[0], pred[0])
