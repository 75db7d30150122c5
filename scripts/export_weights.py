"""Thin wrapper: the same as `mrirecon train export ...`."""
import sys

from mrirecon.train.export import main

raise SystemExit(main(sys.argv[1:]))
