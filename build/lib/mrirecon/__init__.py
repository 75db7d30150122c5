"""mrirecon: accelerated MRI reconstruction with diffusion models.

Layers (dependencies point down): io, data -> physics -> models -> diffusion -> recon -> pipeline,
train, eval -> cli. See README.md ("Layout").
"""

__version__ = "0.2.0"
