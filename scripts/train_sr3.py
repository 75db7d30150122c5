"""Thin wrapper: the same as `mrirecon train sr3 ...` (resumes from <out>/last).

    nohup python scripts/train_sr3.py --threads 1 --out checkpoints/sr3 > runs/sr3.out 2>&1 &
"""
import sys

from mrirecon.train.main import main

raise SystemExit(main("sr3", sys.argv[1:]))
