"""PNG grid of prepared slices (train and validation, each orientation) -> docs/prepared_preview.png

    python scripts/preview_data.py [--data data/prepared --size 128]
"""
import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--data", default="data/prepared")
p.add_argument("--size", type=int, default=128)
p.add_argument("--out", default="docs/prepared_preview.png")
a = p.parse_args()
rows = []
for split in ("train", "val"):
    with np.load(Path(a.data) / f"{split}_{a.size}.npz") as z:
        for vol in sorted(set(z["volume"])):
            for orient in ("sagittal", "coronal", "axial"):
                sel = np.where((z["volume"] == vol) & (z["orientation"] == orient))[0]
                if len(sel):
                    picks = sel[np.linspace(len(sel) * 0.2, len(sel) * 0.8, 4).astype(int)]
                    rows.append((f"{split}: {vol}\n{orient}", z["images"][picks].astype(np.float32)))
fig, axes = plt.subplots(len(rows), 4, figsize=(8, 2.1 * len(rows)))
for r, (label, imgs) in enumerate(rows):
    for c in range(4):
        axes[r, c].imshow(imgs[c], cmap="gray", vmin=0, vmax=1)
        axes[r, c].set_xticks([])
        axes[r, c].set_yticks([])
    axes[r, 0].set_ylabel(label, fontsize=7)
fig.tight_layout()
Path(a.out).parent.mkdir(parents=True, exist_ok=True)
fig.savefig(a.out, dpi=60)
print(a.out)
