"""Thin wrapper: the same as `mrirecon train prior ...` (resumes from <out>/last).

    nohup python scripts/train_prior.py --threads 1 --out checkpoints/prior > runs/prior.out 2>&1 &
"""
import sys

from mrirecon.train.main import main

raise SystemExit(main("prior", sys.argv[1:]))
