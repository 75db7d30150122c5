"""Train the SR3 conditional denoiser (resumes from <out>/last; shipping layout in <out>/model).

    nohup python scripts/train_sr3.py --threads 1 --out checkpoints/sr3 > runs/sr3.out 2>&1 &
"""
from mrirecon.cli.config_args import parse_dataclass
from mrirecon.diffusion.train_sr3 import SR3TrainConfig, train_sr3

train_sr3(parse_dataclass(SR3TrainConfig))
