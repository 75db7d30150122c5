#!/usr/bin/env bash
# The peer-comparison runs behind docs/benchmarks.md (issue 21); needs benchmarks/setup_deepinv.sh first.
#   bash benchmarks/run_peers.sh [slices]       (CPU: ~15 min per cell with 4 slices)
set -euo pipefail
N=${1:-4}
PY=${PY:-.venv-deepinv/bin/python}
OURS="ccdf:;ccdf:steps=20;red-diff:;diffusion:steps=20,dc_mode=prox,dc_weight=auto;diffusion:steps=100;diffusion:steps=100,dc_mode=prox,dc_weight=auto;dps:steps=20;dps:steps=50"
PEERS="diffpir:nfe=10,lam=7,zeta=0.1;diffpir:nfe=20,lam=7,zeta=0.1;diffpir:nfe=20,lam=1,zeta=1;diffpir:nfe=50,lam=7,zeta=0.1;diffpir:nfe=100,lam=7,zeta=0.1;diffpir:nfe=100,lam=1,zeta=1;dps:nfe=20;dps:nfe=50"
for cell in "1 4" "1 8" "8 4" "8 8"; do
  set -- $cell
  $PY benchmarks/bench_peers.py --slices "$N" --coils "$1" --R "$2" --ours "$OURS" --peers "$PEERS" \
      --out "bench_out/peers/c$1_R$2.json"
done
# 1000 NFE: one slice, single-coil R=4
$PY benchmarks/bench_peers.py --slices 1 --coils 1 --R 4 --ours "diffusion:dc_mode=prox,dc_weight=auto;diffusion:" \
    --peers "diffpir:nfe=1000,lam=7,zeta=0.1" --out bench_out/peers/c1_R4_nfe1000.json
$PY benchmarks/bench_peers.py --table bench_out/peers/*.json
