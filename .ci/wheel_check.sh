#!/usr/bin/env bash
# Build the wheel, install it (not editable) into a fresh venv and run the toolkit from another
# working directory: package data (weights, demo, specs) must come from the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
TORCH=${TORCH:-torch==2.13.0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 -m venv "$WORK/venv"
PY="$WORK/venv/bin/python"
"$PY" -m pip install -q --upgrade pip
"$PY" -m pip install -q "$TORCH"
"$PY" -m pip wheel -q --no-deps -w "$WORK/dist" "$ROOT"
"$PY" -m pip install -q "$WORK"/dist/mrirecon-*.whl
cd "$WORK"
MR="$WORK/venv/bin/mrirecon"
"$PY" -c "import mrirecon, sys; assert '$ROOT' not in mrirecon.__file__, mrirecon.__file__; print('installed at', mrirecon.__file__)"
"$MR" --version
"$MR" demo --methods zero-filled,unet,ccdf --accelerations 4 --center-fractions 0.08
DEMO=$("$PY" -c "from mrirecon.resources import demo_file; print(demo_file())")
"$MR" data check "$DEMO" --spec mrirecon_sim_multicoil
"$MR" train unet --help > /dev/null
"$MR" reconstruct "$DEMO" "$WORK/out" --method ccdf --accelerations 4 --center-fractions 0.08
"$MR" evaluate --target-path "$(dirname "$DEMO")" --predictions-path "$WORK/out"
# super-resolution with the shipped SR U-Net (the default method): a thick-slice NIfTI to 1 mm
"$PY" -c "
import numpy as np, nibabel as nib
v = np.random.default_rng(0).random((32, 32, 4)).astype(np.float32)
nib.save(nib.Nifti1Image(v, np.diag([1.0, 1.0, 4.0, 1.0])), 'thick.nii.gz')"
"$MR" --quiet sr thick.nii.gz --axis slice --out iso.nii.gz
"$PY" -c "import nibabel as nib; i = nib.load('iso.nii.gz'); assert i.shape == (32, 32, 16), i.shape; print('sr ok', i.shape)"
echo "wheel check: ok"
