"""Train the feed-forward U-Net initializer (resumes from <out>/last; best weights in <out>/best).

    nohup python scripts/train_unet.py --threads 1 --out checkpoints/unet > runs/unet.out 2>&1 &
"""
from mrirecon.cli.config_args import parse_dataclass
from mrirecon.models.train_unet import UNetTrainConfig, train_unet

train_unet(parse_dataclass(UNetTrainConfig))
