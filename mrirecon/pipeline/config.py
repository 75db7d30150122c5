"""Configuration of a reconstruction run (the command line's ``reconstruct`` / ``sweep`` flags)."""

from __future__ import annotations

import dataclasses

SAVE_KINDS = ("nifti", "png", "dicom")
MASK_TYPES = ("random", "equispaced", "equispaced_fraction", "magic", "magic_fraction", "gaussian", "poisson")


@dataclasses.dataclass
class ReconConfig:
    method: str = "zero-filled"
    options: dict = dataclasses.field(default_factory=dict)  # the method's options that differ from its defaults
    challenge: str | None = None  # singlecoil | multicoil | None (from the file)
    mask_type: str = "random"
    accelerations: tuple[int, ...] = (4,)
    center_fractions: tuple[float, ...] = (0.08,)
    use_file_mask: bool = True
    batch_size: int = 4
    seed: int = 0
    device: str = "auto"
    weights: str | None = None  # the method's main network (prior, U-Net or SR3); default: shipped weights
    unet_weights: str | None = None  # U-Net initializer of ccdf / red-diff
    save: tuple[str, ...] = ()
    overwrite: bool = False

    def __post_init__(self):
        if self.mask_type not in MASK_TYPES:
            raise ValueError(f"unknown mask type {self.mask_type!r}: {', '.join(MASK_TYPES)}")
        if any(int(a) != a or a < 1 for a in self.accelerations):
            raise ValueError(f"accelerations must be positive integers, got {list(self.accelerations)}")
        if any(not 0 < c < 1 for c in self.center_fractions):
            raise ValueError(f"center fractions must be in (0, 1), got {list(self.center_fractions)}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {self.batch_size}")
        if self.challenge not in (None, "singlecoil", "multicoil"):
            raise ValueError(f"challenge must be singlecoil or multicoil, got {self.challenge!r}")
        bad = sorted(set(self.save) - set(SAVE_KINDS))
        if bad:
            raise ValueError(f"unknown --save output(s) {bad}: {', '.join(SAVE_KINDS)}")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}
