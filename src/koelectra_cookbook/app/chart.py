"""The web page's bar chart: one bar per label with its probability.

Drawn with matplotlib and handed to the page as a PNG image, not as a figure for the browser to draw: the
Hangul font set-up the run's plots use (plots.py) applies while the picture is rendered, so Korean label
names show whatever fonts the visitor's browser has.
"""

from __future__ import annotations

import io
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from koelectra_cookbook.runs.plots import DPI, korean_text  # the same Hangul font set-up as the run's plots

CHOSEN_COLOUR = "#2b6cb0"
OTHER_COLOUR = "#a0aec0"
THRESHOLD_COLOUR = "#c53030"


def probability_chart(label_names: list[str], probabilities: np.ndarray,
                      thresholds: np.ndarray | None = None) -> Image.Image:
    """Horizontal bars in label-id order. Single-label (`thresholds` None): the most likely label is coloured.
    Multi-label: each label's saved threshold is a red tick across its bar, the labels at or above it are
    coloured, and the title lists them."""
    probabilities = np.asarray(probabilities, dtype=float)
    if thresholds is None:
        chosen = probabilities == probabilities.max()
        best = int(np.argmax(probabilities))
        title = f"prediction: {label_names[best]} ({probabilities[best]:.1%})"
    else:
        chosen = probabilities >= thresholds
        above = [name for name, keep in zip(label_names, chosen) if keep]
        title = "above threshold: " + (", ".join(above) if above else "none")
    title = textwrap.fill(title, width=60)  # a long list of labels goes on several lines, not off the picture
    positions = np.arange(len(label_names))
    with korean_text():
        figure, axes = plt.subplots(figsize=(6.4, 0.8 + 0.42 * len(label_names) + 0.2 * title.count("\n")))
        try:
            axes.barh(positions, probabilities, color=[CHOSEN_COLOUR if c else OTHER_COLOUR for c in chosen])
            for position, probability in zip(positions, probabilities):
                axes.text(min(probability + 0.01, 0.9), position, f"{probability:.1%}", va="center", fontsize=9)
            if thresholds is not None:
                axes.scatter(thresholds, positions, marker="|", s=500, linewidths=2, color=THRESHOLD_COLOUR, zorder=3,
                             label="threshold")
                axes.legend(loc="lower right", fontsize=8)
            axes.set_yticks(positions, label_names)
            axes.invert_yaxis()  # label 0 on top, as the labels are listed beside the chart
            axes.set_xlim(0, 1)
            axes.set_xlabel("probability")
            axes.set_title(title, fontsize=10, loc="left")
            figure.tight_layout()
            image = io.BytesIO()
            figure.savefig(image, dpi=DPI, format="png")  # inside the font set-up: that is when text is drawn
        finally:
            plt.close(figure)
    image.seek(0)
    return Image.open(image)
