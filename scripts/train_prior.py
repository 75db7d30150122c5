"""Train the diffusion prior in the background (resumes from <out>/last; EMA weights in <out>/last/ema).

    nohup python scripts/train_prior.py --threads 1 --out checkpoints/prior > runs/prior.out 2>&1 &
"""
from mrirecon.cli.config_args import parse_dataclass
from mrirecon.diffusion.train import PriorTrainConfig, train_prior

train_prior(parse_dataclass(PriorTrainConfig))
