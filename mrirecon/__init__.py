"""mrirecon: accelerated MRI reconstruction with diffusion models.

Layers (dependencies point down): io, data -> physics -> models, diffusion -> recon -> eval -> cli.
"""

__version__ = "0.1.0"
