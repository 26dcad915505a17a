"""The multi-label threshold search: our vectorised one (metrics.tune_thresholds) beside the plain search that
scores every candidate cut with scikit-learn's f1_score, on data of UnSmile's dev size (1,500 rows, 10 labels,
probabilities with 1,500 distinct values a label). Both must choose the same thresholds. Not part of the tests.

    python bench/thresholds.py          # about a minute on 2 CPU cores; prints a markdown line
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import f1_score

from koelectra_cookbook.classifier.metrics import tune_thresholds


def plain_search(targets: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Every distinct probability as a cut, scored by scikit-learn; ties go to the cut nearest 0.5, then the lower."""
    thresholds = np.full(targets.shape[1], 0.5)
    for label in range(targets.shape[1]):
        gold = targets[:, label]
        if gold.any():
            scored = [(f1_score(gold, probabilities[:, label] >= cut, zero_division=0), -abs(cut - 0.5), -cut)
                      for cut in np.unique(probabilities[:, label])]
            thresholds[label] = -max(scored)[2]
    return thresholds


def main() -> None:
    rng = np.random.default_rng(0)
    targets = (rng.random((1500, 10)) < 0.15).astype(int)
    probabilities = rng.random((1500, 10)).astype(np.float32)
    start = time.perf_counter()
    ours = tune_thresholds(targets, probabilities)
    middle = time.perf_counter()
    plain = plain_search(targets, probabilities)
    end = time.perf_counter()
    print(f"| vectorised search | {middle - start:.4f} s | plain search (scikit-learn per cut) | "
          f"{end - middle:.2f} s | "
          f"{(end - middle) / (middle - start):,.0f}x | same thresholds: {np.array_equal(ours, plain)} |")


if __name__ == "__main__":
    main()
