"""Physics: FFT conventions, measurement operators and data-consistency maps."""

from mrirecon.physics.fft import center_crop, fft2c, ifft2c, rss
from mrirecon.physics.operators import MultiCoilMRI, Operator, SingleCoilMRI, normalise_maps
from mrirecon.physics.sr import Downsample, bicubic_upsample

__all__ = ["fft2c", "ifft2c", "rss", "center_crop", "Operator", "SingleCoilMRI", "MultiCoilMRI",
           "normalise_maps", "Downsample", "bicubic_upsample"]
