#!/usr/bin/env bash
# The peer-comparison runs behind docs/benchmarks.md (issue 21); needs benchmarks/setup_deepinv.sh first.
#   bash benchmarks/run_peers.sh [slices]       (CPU: ~15 min per cell with 4 slices)
set -euo pipefail
N=${1:-4}
# FULL=1: every variant below; default: the rows the targets need (what docs/benchmarks.md shows)
PY=${PY:-.venv-deepinv/bin/python}
# our defaults (ccdf: 10 steps; diffusion: prox + DiffPIR update + sigma grid x0.1), and the earlier variants
OURS="ccdf:;ccdf:steps=20;red-diff:;diffusion:steps=20;diffusion:steps=50;diffusion:steps=100;diffusion:steps=100,dc_mode=replace,dc_weight=1,sigma_scale=1,diffpir_zeta=none;dps:steps=20;dps:steps=50"
[ "${FULL:-0}" = 1 ] || OURS="ccdf:;ccdf:steps=20;diffusion:steps=20;diffusion:steps=100;dps:steps=20;red-diff:"
# deepinv's DiffPIR as shipped (it clamps x0 to [0, 1] per channel: the negative real / imaginary parts
# of images with phase are cut) and the same loop without that clamp (bench_peers.diffpir_unclamped)
PEERS="diffpir:nfe=20,lam=1,zeta=1;diffpir:nfe=100,lam=1,zeta=1;diffpir:nfe=100,lam=7,zeta=0.1;diffpir-noclamp:nfe=10,lam=1,zeta=1;diffpir-noclamp:nfe=20,lam=1,zeta=1;diffpir-noclamp:nfe=50,lam=1,zeta=1;diffpir-noclamp:nfe=100,lam=1,zeta=1;diffpir-noclamp:nfe=100,lam=7,zeta=0.1;dps:nfe=20;dps:nfe=50"
[ "${FULL:-0}" = 1 ] || PEERS="diffpir-noclamp:nfe=20,lam=1,zeta=1;diffpir-noclamp:nfe=100,lam=1,zeta=1;diffpir:nfe=100,lam=1,zeta=1;dps:nfe=20"
for cell in "1 4" "1 8" "8 4" "8 8"; do
  set -- $cell
  $PY benchmarks/bench_peers.py --slices "$N" --coils "$1" --R "$2" --ours "$OURS" --peers "$PEERS" \
      --out "bench_out/peers/c$1_R$2.json"
done
# 1000 NFE: one slice, single-coil R=4
$PY benchmarks/bench_peers.py --slices 1 --coils 1 --R 4 --ours "diffusion:;ccdf:steps=20" \
    --peers "diffpir-noclamp:nfe=1000,lam=1,zeta=1" --out bench_out/peers/c1_R4_nfe1000.json
$PY benchmarks/bench_peers.py --table bench_out/peers/*.json
