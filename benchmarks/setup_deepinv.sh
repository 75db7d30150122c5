#!/usr/bin/env bash
# A separate virtual environment for the peer comparison (issue 21): deepinv 0.5.0 beside the
# CPU torch pin and mrirecon. deepinv imports torchvision; PyPI's torchvision 0.28.0 is a CUDA build
# whose compiled ops do not load beside torch 2.13.0 CPU, and once it is installed diffusers imports
# it too. So it lives here, never in the project's .venv; benchmarks/bench_peers.py registers the two
# op schemas torchvision needs (nms, roi_align) before importing it.
#
#   bash benchmarks/setup_deepinv.sh [VENV]      (default .venv-deepinv; ~2 min, ~1.5 GB)
set -euo pipefail
VENV=${1:-.venv-deepinv}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q -e .
"$VENV/bin/pip" install -q --no-deps deepinv==0.5.0 torchvision==0.28.0
"$VENV/bin/pip" install -q torchmetrics einops natsort pillow
"$VENV/bin/python" benchmarks/bench_peers.py --check
