"""Calibration: how far a classifier's probabilities can be read as probabilities, and one number that makes
them more so.

A fine-tuned classifier is usually over-confident: of the answers it gives with 95% it gets fewer than 95% right.
Temperature scaling (Guo et al. 2017) divides the logits by one number T, fitted on the dev split to minimise the
negative log-likelihood; the ranking of the labels, and so every prediction, stays as it was. Multi-label models
get one temperature per label (each label is its own yes/no question, with its own sigmoid). A temperature is kept
only when it lowers the dev split's expected calibration error (ECE), as Ludwig's `calibration: true` does.

The measures, computed on the probabilities the model gives:
- ECE: predictions put in 15 equal-width bins by confidence; the gap between each bin's mean confidence and how
  often it was right, weighted by the bin's share of rows. Single-label: the top label's probability against
  whether it is the gold label. Multi-label: every (row, label) probability against whether the label is there.
- Brier score: the mean squared distance between the probabilities and the one-hot gold labels (summed over the
  labels of a row for single-label, over every (row, label) cell for multi-label).
- NLL: the mean negative log-likelihood of the gold labels (scikit-learn's log_loss).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_softmax, softmax
from sklearn.metrics import log_loss

ECE_BINS = 15
# Temperatures searched, as log T: 0.05 to 20. Beyond them a dev split is almost surely too small or too easy
# (every answer right: the likelihood keeps rising as T falls to 0).
LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))


def scaled(logits: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """The logits divided by the temperature (one per label, broadcast over rows, for multi-label)."""
    return np.asarray(logits, dtype=np.float64) / np.asarray(temperature, dtype=np.float64)


def probabilities(logits: np.ndarray, multi_label: bool, temperature: float | np.ndarray = 1.0) -> np.ndarray:
    return expit(scaled(logits, temperature)) if multi_label else softmax(scaled(logits, temperature), axis=-1)


def reliability_bins(confidences: np.ndarray, outcomes: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """The reliability diagram's bins: each bin's range, rows, mean confidence and how often its rows were right
    (bins without a row are left out)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidences, edges[1:-1], right=True), 0, bins - 1)
    table = []
    for index in range(bins):
        inside = which == index
        if inside.any():
            table.append({"lower": round(float(edges[index]), 4), "upper": round(float(edges[index + 1]), 4),
                          "count": int(inside.sum()), "confidence": float(confidences[inside].mean()),
                          "accuracy": float(outcomes[inside].mean())})
    return table


def expected_calibration_error(bins: list[dict]) -> float:
    total = sum(b["count"] for b in bins)
    return float(sum(b["count"] * abs(b["accuracy"] - b["confidence"]) for b in bins) / total) if total else 0.0


def calibration_report(logits: np.ndarray, labels: np.ndarray, multi_label: bool,
                       temperature: float | np.ndarray = 1.0) -> dict:
    """ECE (with its bins), Brier score and NLL of the probabilities `logits` give at `temperature`."""
    probs = probabilities(logits, multi_label, temperature)
    if multi_label:
        gold = np.asarray(labels, dtype=np.float64)
        confidences, outcomes = probs.ravel(), gold.ravel()
        brier = float(np.mean((probs - gold) ** 2))
        nll = float(log_loss(outcomes, confidences, labels=[0, 1]))
    else:
        gold = np.asarray(labels, dtype=np.int64)
        one_hot = np.eye(probs.shape[1])[gold]
        confidences, outcomes = probs.max(axis=1), (probs.argmax(axis=1) == gold).astype(np.float64)
        brier = float(np.mean(np.sum((probs - one_hot) ** 2, axis=1)))
        nll = float(-np.mean(log_softmax(scaled(logits, temperature), axis=-1)[np.arange(len(gold)), gold]))
    bins = reliability_bins(confidences, outcomes)
    return {"ece": expected_calibration_error(bins), "brier": brier, "nll": nll, "bins": bins}


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T that minimises the negative log-likelihood of softmax(logits / T) on these rows."""
    rows = np.arange(len(labels))
    return best_temperature(lambda t: float(-np.mean(log_softmax(scaled(logits, t), axis=-1)[rows, labels])))


def fit_label_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """fit_temperature for one label of a multi-label model: sigmoid(logit / T) against 0/1."""
    logits = np.asarray(logits, dtype=np.float64)
    # -log sigmoid(z) for a 1, -log(1 - sigmoid(z)) for a 0, with z = logit / T
    return best_temperature(lambda t: float(np.mean(np.logaddexp(0.0, logits / t) - gold * logits / t)))


def best_temperature(nll) -> float:
    """The T in the bounds where `nll(T)` is lowest, searched as log T (where the likelihood is smooth)."""
    return float(np.exp(minimize_scalar(lambda log_t: nll(np.exp(log_t)), bounds=LOG_T_BOUNDS, method="bounded").x))


def choose_temperature(logits: np.ndarray, labels: np.ndarray, multi_label: bool) -> tuple[np.ndarray, np.ndarray]:
    """The fitted temperature(s) and which are kept: a temperature stays only when it lowers the dev ECE (for
    multi-label, that label's). A label whose dev column holds one value only keeps 1: nothing there to fit on.
    Returns (fitted, kept), arrays of one value for single-label, one per label for multi-label."""
    if not multi_label:
        fitted = fit_temperature(logits, labels)
        keep = (calibration_report(logits, labels, False, fitted)["ece"]
                < calibration_report(logits, labels, False)["ece"])
        return np.array([fitted]), np.array([keep])
    fitted, kept = np.ones(logits.shape[1]), np.zeros(logits.shape[1], dtype=bool)
    for label in range(logits.shape[1]):
        column, gold = logits[:, [label]], labels[:, [label]]
        if gold.min() == gold.max():
            continue
        fitted[label] = fit_label_temperature(column[:, 0], gold[:, 0].astype(np.float64))
        kept[label] = (calibration_report(column, gold, True, fitted[label])["ece"]
                       < calibration_report(column, gold, True)["ece"])
    return fitted, kept
