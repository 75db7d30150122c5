#!/usr/bin/env bash
# Reconstruct a folder of fastMRI files on one GPU server, one rank per GPU.
#   scripts/cluster/reconstruct_multigpu.sh DATA_DIR OUT_DIR [extra mrirecon options]
# e.g. scripts/cluster/reconstruct_multigpu.sh /data/brain_val /results/ccdf_R4 --method ccdf --accelerations 4 --center-fractions 0.08
set -euo pipefail
DATA=${1:?data folder}; OUT=${2:?output folder}; shift 2
NGPU=${NGPU:-$(nvidia-smi -L 2>/dev/null | wc -l)}
NGPU=${NGPU:-1}
[ "$NGPU" -ge 1 ] || NGPU=1
exec torchrun --standalone --nproc-per-node "$NGPU" -m mrirecon reconstruct "$DATA" "$OUT" --device auto "$@"
