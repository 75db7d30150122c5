#!/usr/bin/env bash
# Real Siemens raw data (twixtools 0.24 example gre.dat: GRE phantom, 2 coils, fully sampled, 2x readout
# oversampling) -> fastMRI file -> every method at R=2 and R=4 -> PSNR/SSIM against the fully sampled RSS image.
#   benchmarks/bench_twix.sh [OUT=bench_out/twix]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench_out/twix}
MR=${MR:-.venv/bin/mrirecon}
mkdir -p "$OUT"
if [ ! -f "$OUT/gre.dat" ]; then
  .venv/bin/python -m pip download -q --no-binary :all: --no-deps twixtools==0.24 -d "$OUT"
  tar -xzf "$OUT/twixtools-0.24.tar.gz" -C "$OUT" twixtools-0.24/example_data/gre.dat
  mv "$OUT/twixtools-0.24/example_data/gre.dat" "$OUT/gre.dat"
fi
echo "10ce71c8cba94fb47989fe69d45c86673508f178e8b4c2399e805f27936b01ca  $OUT/gre.dat" | sha256sum -c -
$MR data convert "$OUT/gre.dat" --out "$OUT/fastmri" --overwrite
$MR data check "$OUT/fastmri" --spec mrirecon_converted
echo "| R | method | PSNR (dB) | SSIM |"
echo "|---|---|---|---|"
for R in 2 4; do
  CF=$([ "$R" = 2 ] && echo 0.16 || echo 0.08)
  for M in zero-filled cs unet ccdf; do
    $MR reconstruct "$OUT/fastmri" "$OUT/R$R/$M" --method "$M" --accelerations "$R" --center-fractions "$CF" \
      --overwrite --save dicom > /dev/null 2>&1
    $MR evaluate --target-path "$OUT/fastmri" --predictions-path "$OUT/R$R/$M" | tail -1 | \
      awk -v r="$R" -v m="$M" '{print "| " r " | " m " | " $8 " | " $13 " |"}'
  done
done
dciodvfy "$OUT/R4/ccdf/gre_dicom/IM0001.dcm" 2>&1 | grep -c "^Error" | xargs echo "dciodvfy errors:" || true
