"""Training: one loop (``loop.train``) with the U-Net, prior, SR3 and SR U-Net objectives
(``objectives``), checkpoints without pickle (``checkpoint``), training datasets (``datasets``) and the export of
trained weights with model cards (``export``). ``mrirecon train <what>`` runs ``main``."""

from mrirecon.train.loop import TrainConfig, train
from mrirecon.train.objectives import (OBJECTIVES, PriorObjective, PriorTrainConfig, SR3Objective, SR3TrainConfig,
                                       SRNetObjective, SRNetTrainConfig, UNetObjective, UNetTrainConfig)

__all__ = ["train", "TrainConfig", "OBJECTIVES", "UNetObjective", "UNetTrainConfig", "PriorObjective",
           "PriorTrainConfig", "SR3Objective", "SR3TrainConfig", "SRNetObjective", "SRNetTrainConfig", "train_unet",
           "train_prior", "train_sr3", "train_srnet"]


def train_unet(cfg: UNetTrainConfig, log=print):
    return train(UNetObjective(cfg), cfg, log)


def train_prior(cfg: PriorTrainConfig, log=print):
    return train(PriorObjective(cfg), cfg, log)


def train_sr3(cfg: SR3TrainConfig, log=print):
    return train(SR3Objective(cfg), cfg, log)


def train_srnet(cfg: SRNetTrainConfig, log=print):
    return train(SRNetObjective(cfg), cfg, log)
