#!/usr/bin/env bash
# Equal-CPU-time comparison of the prior's training-timestep sampling (uniform vs mixed vs low):
# each trains from scratch for MINUTES on one thread, then one-step denoising PSNR and CCDF
# (t0=0.1, 10 NFE, single-coil R=4/8) are measured on validation with the same U-Net.
#   MINUTES=60 benchmarks/compare_t_sampling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-60}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1
for mode in uniform mixed; do
  $PY scripts/train_prior.py --threads 1 --out bench_out/tsamp_$mode/ckpt --t-sampling $mode --max-minutes "$MINUTES" \
    > bench_out/tsamp_$mode.log 2>&1 &
done
wait
for mode in uniform mixed; do
  $PY benchmarks/bench_prior.py --weights bench_out/tsamp_$mode/ckpt/last/ema --history bench_out/tsamp_$mode/ckpt/last/state.json \
    --out bench_out/tsamp_$mode/prior --samples 2
  $PY benchmarks/bench_recon.py --threads 1 --kinds singlecoil --files 1 --slices 4 --methods "" \
    --extra "ccdf ($mode prior):ccdf:t0=0.1,steps=10,weights=bench_out/tsamp_$mode/ckpt/last/ema" \
    --out bench_out/tsamp_$mode/recon
done
