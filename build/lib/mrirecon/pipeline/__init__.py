"""The engine: file → mask → operator → solver → writer, for one file, a batch, a sweep, the demo and
super-resolution. The command line (the ``cli`` package) only parses arguments and calls this package;
benchmarks call it too."""

from mrirecon.pipeline.config import ReconConfig
from mrirecon.pipeline.solvers import Reconstructor, build_solver

__all__ = ["ReconConfig", "Reconstructor", "build_solver"]
