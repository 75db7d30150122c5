"""Figure of the robust recipe's tissue-class synthesis (docs/figures/tissue_map_synthesis.png).

An axial MNI 2009a training slice, its grey / white matter / CSF probability maps as stored by
``mrirecon data prepare``, four draws of ``data.augment.tissue_map_synthesis`` and one of the
intensity-class synthesis used for slices without maps. Prints the T1 levels of the three classes
fitted on the slice (a check that the maps match the image). Usage:
``python benchmarks/fig_tissue_synthesis.py [--data data/prepared] [--out docs/figures/tissue_map_synthesis.png]``
"""

import argparse

import numpy as np
import torch


def main():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrirecon.data.augment import tissue_map_synthesis, tissue_synthesis
    from mrirecon.data.prepare import load_split, load_tissue_split

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="data/prepared")
    p.add_argument("--out", default="docs/figures/tissue_map_synthesis.png")
    a = p.parse_args()
    images = load_split(a.data, "train", 128)
    tissue = load_tissue_split(a.data, "train", 128)
    with np.load(f"{a.data}/train_128.npz") as z:
        orientation = z["orientation"]
    axial = [i for i, t in enumerate(tissue) if t is not None and orientation[i] == "axial"]
    if not axial:
        raise SystemExit(f"{a.data}: no slices with tissue maps; rerun `mrirecon data prepare`")
    i = axial[len(axial) * 3 // 5]
    u, maps = torch.from_numpy(images[i]), torch.from_numpy(tissue[i])
    fit = np.linalg.lstsq(maps.reshape(3, -1).T.numpy(), u.reshape(-1).numpy(), rcond=None)[0]
    print("T1 levels fitted on the slice (gm, wm, csf):", fit.round(3))
    panels = [("T1 (template)", u), ("GM / WM / CSF maps", maps.permute(1, 2, 0))]
    panels += [(f"map synthesis, seed {k}", tissue_map_synthesis(u, maps, torch.Generator().manual_seed(k)))
               for k in range(4)]
    panels.append(("intensity classes, seed 0", tissue_synthesis(u, torch.Generator().manual_seed(0))))
    fig, axs = plt.subplots(1, len(panels), figsize=(17, 2.9))
    for ax, (name, im) in zip(axs, panels):
        im = im.numpy()
        ax.imshow(np.clip(im / max(float(im.max()), 1e-6), 0, 1), cmap=None if im.ndim == 3 else "gray")
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(a.out, dpi=80)


if __name__ == "__main__":
    main()
