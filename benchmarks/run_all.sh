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
    --extra "red-diff 50:red-diff:steps=50,init=zero-filled,t_max=1.0" \
    --extra "dps 50:dps:steps=50"
  # RED-diff in the paper's setting (zero-filled start, t descending from T), then the shipped default
  P="init=zero-filled,t_max=1.0"
  $PY benchmarks/bench_recon.py --threads 1 --files 1 --slices 4 --kinds singlecoil --out bench_out/reddiff_grid --methods "" \
    --extra "red-diff l=0.1 s=50:red-diff:lamda=0.1,steps=50,$P" --extra "red-diff l=0.25 s=50:red-diff:lamda=0.25,steps=50,$P" \
    --extra "red-diff l=0.5 s=50:red-diff:lamda=0.5,steps=50,$P" --extra "red-diff l=0.25 s=100:red-diff:lamda=0.25,steps=100,$P" \
    --extra "red-diff l=0.25 s=100 lr=0.05:red-diff:lamda=0.25,steps=100,lr=0.05,$P" \
    --extra "red-diff l=0.25 s=200:red-diff:lamda=0.25,steps=200,$P" \
    --extra "red-diff unet t_max=0.3 s=100:red-diff:steps=100,init=unet,t_max=0.3" \
    --extra "dps 100:dps:steps=100" --extra "dps 100 zeta=0.3:dps:steps=100,zeta=0.3" --extra "dps 100 zeta=3:dps:steps=100,zeta=3"
  $PY benchmarks/bench_recon.py --threads 1 --kinds multicoil --files 2 --slices 4 --out bench_out/reddiff_multicoil --methods cs,unet \
    --extra "red-diff 100:red-diff:steps=100,$P" --extra "red-diff 200:red-diff:steps=200,$P" \
    --extra "red-diff unet t_max=0.3 s=100:red-diff:steps=100,init=unet,t_max=0.3"
  $PY benchmarks/bench_memory.py --steps 20 --out bench_out/memory.json
}
lane2() {
  $PY benchmarks/bench_prior.py --out bench_out/prior
  $PY benchmarks/bench_ccdf.py --kind singlecoil --files 1 --slices 4 --nfe-at-t0 20 --nfe 2,5,10,20,50 \
    --full-nfe 1000 --dc-compare --out bench_out/ccdf
  $PY benchmarks/bench_sr.py --n 8 --scales 2,4 --out bench_out/sr \
    --configs "bicubic;ccdf:t0=0.2,steps=20;ccdf:t0=0.1,steps=10;red-diff:steps=200;sr3:steps=100,final_dc=0;sr3:steps=100;sr3:t0=0.3,steps=20;sr3:t0=0.3,steps=20,n_samples=4"
  # full reverse diffusion: one 250-step chain vs the mean of 4 (the same 1000 network evaluations)
  $PY benchmarks/bench_recon.py --threads 1 --kinds singlecoil --files 1 --slices 4 --accelerations 4,8 --methods "" \
    --extra "full diffusion 250 steps:diffusion:steps=250" \
    --extra "full diffusion 4 samples x 250 steps, mean:diffusion:steps=250,samples=4" --out bench_out/full_r8
}
lane3() {  # this round's checks (issues 15, 17, 18, 20)
  benchmarks/bench_twix.sh
  $PY benchmarks/bench_determinism.py
  $PY benchmarks/bench_train_speed.py
  $PY benchmarks/bench_robust.py --snr 20,30 --out bench_out/robust/lane1.json
  $PY benchmarks/bench_robust.py --snr 40,50 --out bench_out/robust/lane2.json
  $PY benchmarks/bench_robust.py --snr 30 --coils 8 --radii 1.5 --masks random --contrasts t2like --out bench_out/robust/t2.json
  $PY benchmarks/bench_robust.py --snr 30 --coils 1,8 --radii 1.5 --masks random --methods dcmodes --out bench_out/robust/dcmodes.json
  $PY benchmarks/bench_memory_file.py --slices 4,12
}
if [ -n "${ROUND3_ONLY:-}" ]; then lane3; exit 0; fi
lane1 > bench_out_lane1.log 2>&1 &
lane2 > bench_out_lane2.log 2>&1 &
wait
# the equal-compute comparison of training-timestep sampling (trains two priors: ~1 h of one core each)
if [ -n "${WITH_T_SAMPLING:-}" ]; then STEPS=1500 benchmarks/compare_t_sampling.sh; fi
