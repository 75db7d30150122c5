"""A diffusion prior = a trained ε-network + the noise schedule it was trained with."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from mrirecon.diffusion.schedule import ScheduleConfig, VPSchedule


@dataclasses.dataclass
class DiffusionPrior:
    net: torch.nn.Module
    schedule: VPSchedule

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        return self.net(x, t)

    def parameters(self):
        return self.net.parameters()

    @classmethod
    def load(cls, folder, device="cpu") -> "DiffusionPrior":
        import mrirecon.models.prior  # noqa: F401  (registers the class)
        from mrirecon.models.io import load_model

        net = load_model(Path(folder), device=device)
        sched = ScheduleConfig(**net.meta.get("schedule", {}))
        return cls(net.eval(), VPSchedule(sched))
