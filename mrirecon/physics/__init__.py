"""Physics: FFT conventions, the linear-operator base and the measurement operators."""

from mrirecon.physics.fft import center_crop, fft2c, ifft2c, rss
from mrirecon.physics.linop import LinearOp, Operator
from mrirecon.physics.operators import MultiCoilMRI, SingleCoilMRI, normalise_maps
from mrirecon.physics.sr import Degrade, Downsample, bicubic_upsample

__all__ = ["fft2c", "ifft2c", "rss", "center_crop", "LinearOp", "Operator", "SingleCoilMRI", "MultiCoilMRI",
           "normalise_maps", "Degrade", "Downsample", "bicubic_upsample"]
