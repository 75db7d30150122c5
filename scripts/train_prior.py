"""Train the diffusion prior in the background (resumes from <out>/last).

    nohup python scripts/train_prior.py --threads 1 --out runs/prior > runs/prior.out 2>&1 &
"""
import argparse
import dataclasses

from mrirecon.diffusion.train import PriorTrainConfig, train_prior

p = argparse.ArgumentParser()
for f in dataclasses.fields(PriorTrainConfig):
    if f.name == "channels":
        p.add_argument("--channels", type=lambda s: tuple(int(c) for c in s.split(",")), default=f.default)
    else:
        typ = type(f.default) if f.default is not None else float
        if typ is bool:
            p.add_argument(f"--{f.name.replace('_', '-')}", type=lambda s: s.lower() in ("1", "true", "yes"), default=f.default)
        else:
            p.add_argument(f"--{f.name.replace('_', '-')}", type=typ if f.name != "threads" else int, default=f.default)
args = p.parse_args()
train_prior(PriorTrainConfig(**vars(args)))
