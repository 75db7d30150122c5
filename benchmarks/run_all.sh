#!/usr/bin/env bash
# The benchmark runs behind docs/benchmarks.md (2-core CPU; two lanes in parallel, one thread each).
# Needs `mrirecon data prepare` and the shipped weights. Results land in bench_out/.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
PY=${PY:-.venv/bin/python}
lane1() {
  $PY benchmarks/bench_recon.py --threads 1 --files 2 --slices 4 --out bench_out/recon \
    --methods zero-filled,cs,unet \
    --extra "unet+cg-dc:unet:final_dc=cg" \
    --extra "ccdf t0=0.1 nfe=10:ccdf:t0=0.1,steps=10" \
    --extra "red-diff 50:red-diff:steps=50" \
    --extra "dps 50:dps:steps=50"
  $PY benchmarks/bench_recon.py --threads 1 --files 1 --slices 4 --kinds singlecoil --out bench_out/reddiff_grid --methods "" \
    --extra "red-diff l=0.1 s=50:red-diff:lamda=0.1,steps=50" --extra "red-diff l=0.25 s=50:red-diff:lamda=0.25,steps=50" \
    --extra "red-diff l=0.5 s=50:red-diff:lamda=0.5,steps=50" --extra "red-diff l=0.25 s=100:red-diff:lamda=0.25,steps=100" \
    --extra "red-diff l=0.25 s=100 lr=0.05:red-diff:lamda=0.25,steps=100,lr=0.05"
  $PY benchmarks/bench_memory.py --steps 20 --out bench_out/memory.json
}
lane2() {
  $PY benchmarks/bench_prior.py --out bench_out/prior
  $PY benchmarks/bench_ccdf.py --kind singlecoil --files 1 --slices 4 --nfe-at-t0 20 --nfe 2,5,10,20,50 \
    --full-nfe 1000 --dc-compare --out bench_out/ccdf
  $PY benchmarks/bench_sr.py --n 8 --scales 2,4 --out bench_out/sr
}
lane1 > bench_out_lane1.log 2>&1 &
lane2 > bench_out_lane2.log 2>&1 &
wait
