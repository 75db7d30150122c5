"""Acceleration sweeps: tables, plots, image grids with error maps, and a self-contained HTML report.

``write_report(rows, grids, out)`` takes per-(method, acceleration) summary rows and image grids
prepared by the caller (``mrirecon sweep``) and writes ``results.csv``, ``results.md``,
``psnr_ssim_vs_acceleration.png``, ``psnr_vs_seconds.png``, ``grid_R*.png`` and ``report.html``
(all images embedded as base64, so the one file opens anywhere).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

import numpy as np

from mrirecon.io.atomic import atomic_path

FIELDS = ["method", "acceleration", "center_fraction", "volumes", "PSNR", "PSNR_std", "SSIM", "SSIM_std", "NMSE",
          "seconds_per_slice"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_fig(fig, path: Path) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    data = buf.getvalue()
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
    _plt().close(fig)
    return data


def markdown_table(rows: list[dict]) -> str:
    lines = ["| method | R | PSNR (dB) | SSIM | NMSE | s/slice |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['acceleration']} | {r['PSNR']:.2f} ± {r['PSNR_std']:.2f} | "
                     f"{r['SSIM']:.4f} ± {r['SSIM_std']:.4f} | {r['NMSE']:.4f} | {r['seconds_per_slice']:.3f} |")
    return "\n".join(lines)


def plot_curves(rows: list[dict], out: Path) -> dict[str, bytes]:
    plt = _plt()
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for m in methods:
        rs = sorted((r for r in rows if r["method"] == m), key=lambda r: r["acceleration"])
        acc = [r["acceleration"] for r in rs]
        axes[0].errorbar(acc, [r["PSNR"] for r in rs], yerr=[r["PSNR_std"] for r in rs], marker="o", capsize=3, label=m)
        axes[1].errorbar(acc, [r["SSIM"] for r in rs], yerr=[r["SSIM_std"] for r in rs], marker="o", capsize=3, label=m)
    for ax, name in zip(axes, ("PSNR (dB)", "SSIM")):
        ax.set_xlabel("acceleration R")
        ax.set_ylabel(name)
        ax.set_xticks(sorted({r["acceleration"] for r in rows}))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    imgs = {"psnr_ssim_vs_acceleration.png": _save_fig(fig, out / "psnr_ssim_vs_acceleration.png")}
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        ax.scatter([max(r["seconds_per_slice"], 1e-3) for r in rs], [r["PSNR"] for r in rs], label=m)
        for r in rs:
            ax.annotate(f"R{r['acceleration']}", (max(r["seconds_per_slice"], 1e-3), r["PSNR"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("seconds per slice (log)")
    ax.set_ylabel("PSNR (dB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    imgs["psnr_vs_seconds.png"] = _save_fig(fig, out / "psnr_vs_seconds.png")
    return imgs


def plot_grid(target: np.ndarray, recons: dict[str, np.ndarray], title: str, path: Path) -> bytes:
    """Target and each method's slice (top row) with |error| maps ×5 (bottom row)."""
    plt = _plt()
    n = len(recons) + 1
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.8), squeeze=False)
    vmax = float(np.percentile(target, 99.5)) or 1.0
    axes[0, 0].imshow(target, cmap="gray", vmin=0, vmax=vmax)
    axes[0, 0].set_title("target", fontsize=8)
    for j, (m, img) in enumerate(recons.items(), start=1):
        axes[0, j].imshow(img, cmap="gray", vmin=0, vmax=vmax)
        axes[0, j].set_title(m, fontsize=8)
        axes[1, j].imshow(np.abs(img - target), cmap="inferno", vmin=0, vmax=vmax / 5)
        axes[1, j].set_title("|error| ×5", fontsize=7)
    for ax in axes.flat:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return _save_fig(fig, path)


def write_report(rows: list[dict], grids: dict[str, bytes], out, meta: dict | None = None) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    md = markdown_table(rows)
    with atomic_path(out / "results.md") as tmp:
        Path(tmp).write_text(md + "\n")
    with atomic_path(out / "results.json") as tmp:
        Path(tmp).write_text(json.dumps({"rows": rows, "meta": meta or {}}, indent=2, default=str))
    images = plot_curves(rows, out) if rows else {}
    images.update(grids)
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>mrirecon sweep report</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:100%}</style></head><body>",
             "<h1>mrirecon sweep report</h1>"]
    if meta:
        parts.append("<pre>" + html.escape(json.dumps(meta, indent=1, default=str)) + "</pre>")
    parts.append("<h2>Results</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in
                 ["method", "R", "volumes", "PSNR (dB)", "SSIM", "NMSE", "s/slice"]) + "</tr>")
    for r in rows:
        parts.append(f"<tr><td>{html.escape(str(r['method']))}</td><td>{r['acceleration']}</td><td>{r['volumes']}</td>"
                     f"<td>{r['PSNR']:.2f} ± {r['PSNR_std']:.2f}</td><td>{r['SSIM']:.4f} ± {r['SSIM_std']:.4f}</td>"
                     f"<td>{r['NMSE']:.4f}</td><td>{r['seconds_per_slice']:.3f}</td></tr>")
    parts.append("</table>")
    for name, data in images.items():
        parts.append(f"<h3>{html.escape(name)}</h3><img alt='{html.escape(name)}' "
                     f"src='data:image/png;base64,{base64.b64encode(data).decode()}'>")
    parts.append("</body></html>")
    with atomic_path(out / "report.html") as tmp:
        Path(tmp).write_text("\n".join(parts))
    return out / "report.html"
