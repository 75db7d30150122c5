#!/usr/bin/env bash
# Equal-compute comparison of the prior's training-timestep sampling (uniform vs mixed):
# each trains from scratch for the same number of steps (same network, batch and crop, so the same
# CPU time per step; a step budget stays fair when other jobs share the CPU), then one-step
# denoising PSNR and CCDF (t0=0.1, 10 NFE, single-coil R=4/8) are measured on validation with the
# same U-Net. The two runs go one after the other on one thread.
#   STEPS=1500 benchmarks/compare_t_sampling.sh
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-1500}
MODES=${MODES:-"uniform mixed"}
PY=${PY:-.venv/bin/python}
export OMP_NUM_THREADS=1
mkdir -p bench_out
for mode in $MODES; do
  $PY scripts/train_prior.py --threads 1 --out bench_out/tsamp_$mode/ckpt --t-sampling $mode --steps "$STEPS" \
    --val-every 500 > bench_out/tsamp_$mode.log 2>&1
done
for mode in $MODES; do
  $PY benchmarks/bench_prior.py --weights bench_out/tsamp_$mode/ckpt/last/ema --history bench_out/tsamp_$mode/ckpt/last/state.json \
    --out bench_out/tsamp_$mode/prior --samples 0
  for R in 4 8; do
    $PY benchmarks/bench_recon.py --threads 1 --kinds singlecoil --files 1 --slices 4 --accelerations $R --methods "" \
      --extra "ccdf ($mode prior):ccdf:t0=0.1,steps=10,weights=bench_out/tsamp_$mode/ckpt/last/ema" \
      --out bench_out/tsamp_$mode/recon_R$R
  done
done
