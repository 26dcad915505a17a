"""plots/reliability.png: how often a model was right against how sure it said it was, before and after its
temperature (results.json's `calibration`, quality/calibration.py)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from koelectra_cookbook.runs.plots import _save, korean_text


def plot_reliability(calibration: dict, out_dir: Path, title: str) -> Path:
    """One panel per split measured (dev, eval): each bin's mean confidence against its accuracy, before and
    after calibration, with the diagonal a calibrated model lies on; the legend gives each curve's ECE. Rows per
    bin go underneath, since a bin of a few rows says little."""
    splits = [name for name in ("dev", "eval") if name in calibration]
    with korean_text():
        fig, axes = plt.subplots(2, len(splits), figsize=(5 * len(splits), 6.5), squeeze=False,
                                 gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08, "wspace": 0.3,
                                              "left": 0.1, "right": 0.97, "bottom": 0.08, "top": 0.9},
                                 sharex=True)
        for column, name in enumerate(splits):
            curve, counts = axes[0][column], axes[1][column]
            curve.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
            for when, style in (("before", "o-"), ("after", "s-")):
                bins = calibration[name][when]["bins"]
                curve.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], style, markersize=4,
                           label=f"{when}: ECE {calibration[name][when]['ece']:.4f}")
            after = calibration[name]["after"]["bins"]
            counts.bar([(b["lower"] + b["upper"]) / 2 for b in after], [b["count"] for b in after],
                       width=[b["upper"] - b["lower"] for b in after], color="tab:blue", alpha=0.6)
            curve.set(title=f"{name}", ylabel="accuracy (share right)", xlim=(0, 1), ylim=(0, 1))
            counts.set(xlabel="confidence", ylabel="rows (after)")
            curve.legend(loc="upper left", fontsize=8)
            curve.grid(alpha=0.3)
        fig.suptitle(title)  # margins set above: tight_layout measured 3x the time of the whole plot
        return _save(fig, Path(out_dir), "reliability")
