"""Image quality metrics with fastMRI's definitions (``fastmri/evaluate.py``).

Volumes are ``(slices, H, W)`` magnitude numpy arrays; ``maxval`` defaults to the target volume's
maximum; SSIM is scikit-image's with a 7×7 window computed per slice and averaged.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def mse(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.mean((gt - pred) ** 2)


def nmse(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return np.array(np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2)


def psnr(gt: np.ndarray, pred: np.ndarray, maxval: Optional[float] = None) -> np.ndarray:
    maxval = gt.max() if maxval is None else maxval
    return peak_signal_noise_ratio(gt, pred, data_range=maxval)


def ssim(gt: np.ndarray, pred: np.ndarray, maxval: Optional[float] = None) -> np.ndarray:
    if gt.ndim != 3:
        raise ValueError("Unexpected number of dimensions in ground truth.")
    if gt.ndim != pred.ndim:
        raise ValueError("Ground truth dimensions does not match pred.")
    maxval = gt.max() if maxval is None else maxval
    total = np.array([0])
    for i in range(gt.shape[0]):
        total = total + structural_similarity(gt[i], pred[i], data_range=maxval)
    return total / gt.shape[0]


METRIC_FUNCS = {"MSE": mse, "NMSE": nmse, "PSNR": psnr, "SSIM": ssim}


def evaluate_volume(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """NMSE, PSNR, SSIM of one volume as plain floats."""
    gt, pred = np.asarray(gt), np.asarray(pred)
    return {k: _scalar(f(gt, pred)) for k, f in (("NMSE", nmse), ("PSNR", psnr), ("SSIM", ssim))}


def _scalar(v) -> float:
    return float(np.asarray(v).reshape(-1)[0])
