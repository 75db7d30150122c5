#!/usr/bin/env bash
# The peer-comparison runs behind docs/benchmarks.md (issue 21); needs benchmarks/setup_deepinv.sh first.
#   bash benchmarks/run_peers.sh [slices] [seeds]      (defaults: 8 slices, seeds 2000,3000)
# Single-coil cells: deepinv's DiffPIR (without its [0, 1] clamp) itself; multi-coil cells: the same loop
# transcribed (diffpir-ref: identical numbers on single-coil data, and its SENSE prox finishes — deepinv's
# generic CG prox takes ~7 min per slice at 100 NFE here). Posterior samples vary by up to ±0.6 dB between
# seeds on 4 slices, hence several slices and seeds. CPU: ~40 min per single-coil cell, ~15 per multi-coil.
set -euo pipefail
N=${1:-8}
SEEDS=${2:-2000,3000}
PY=${PY:-.venv-deepinv/bin/python}
OURS="ccdf:;ccdf:steps=20;diffusion:steps=100;ccdf:steps=20,n_samples=10"
for R in 4 8; do
  $PY benchmarks/bench_peers.py --slices "$N" --seeds "$SEEDS" --coils 1 --R $R --ours "$OURS" \
      --peers "diffpir-noclamp:nfe=20,lam=1,zeta=1;diffpir-noclamp:nfe=100,lam=1,zeta=1;diffpir-ref:nfe=200" \
      --out "bench_out/peers/c1_R$R.json"
done
for R in 4 8; do
  $PY benchmarks/bench_peers.py --slices 4 --seeds "$SEEDS" --coils 8 --R $R --ours "ccdf:;ccdf:steps=20;diffusion:steps=100" \
      --peers "diffpir-ref:nfe=100" --out "bench_out/peers/c8_R$R.json"
done
# DPS at 20 NFE, ours and deepinv's (4 slices, one seed)
$PY benchmarks/bench_peers.py --slices 4 --coils 1 --R 4 --ours "dps:steps=20" --peers "dps:nfe=20" \
    --out bench_out/peers/c1_R4_dps.json
$PY benchmarks/bench_peers.py --table bench_out/peers/*.json
