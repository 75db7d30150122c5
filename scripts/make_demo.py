"""Make the bundled demo file mrirecon/demo/demo_brain_multicoil.h5 from validation slices.

    python scripts/make_demo.py [--data data/prepared]

4 consecutive axial slices of the validation volume (Colin27), 8 birdcage coils, SNR 30 dB, 128×128.
"""
import argparse
from pathlib import Path

import numpy as np

from mrirecon.data.synth import SimConfig, write_simulated

p = argparse.ArgumentParser()
p.add_argument("--data", default="data/prepared")
p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "mrirecon/demo/demo_brain_multicoil.h5"))
a = p.parse_args()
with np.load(Path(a.data) / "val_128.npz") as z:
    imgs = z["images"][z["orientation"] == "axial"].astype(np.float32)
mid = len(imgs) // 2 + 10
sel = imgs[mid:mid + 8:2]
path = write_simulated(a.out, sel, SimConfig(coils=8, snr_db=30.0, seed=2026, acquisition="AXT1_SIM"),
                       patient_id="colin27_demo")
print(path, path.stat().st_size / 1e6, "MB")
