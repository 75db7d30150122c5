"""Thin wrapper: the same as `mrirecon train unet ...` (resumes from <out>/last).

    nohup python scripts/train_unet.py --threads 1 --out checkpoints/unet > runs/unet.out 2>&1 &
"""
import sys

from mrirecon.train.main import main

raise SystemExit(main("unet", sys.argv[1:]))
