"""Evaluation metrics for single-label and multi-label classification, in plain numpy.

Every metric follows scikit-learn's definitions with `zero_division=0` (the tests check
this against scikit-learn), but is computed here so that evaluation needs nothing beyond
numpy and stays fast inside the training loop.
"""

from collections.abc import Sequence

import numpy as np

SINGLE_LABEL_METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1")
MULTI_LABEL_METRICS = ("lrap", "macro_f1", "micro_f1", "samples_f1", "hamming_loss", "subset_accuracy")

# Upper bound on the (rows, labels, labels) comparison block that lrap builds at once,
# so memory stays bounded however many rows are evaluated.
_LRAP_BLOCK_ELEMENTS = 4_000_000


def is_minimized(metric_name: str) -> bool:
    """Return True when a smaller value of `metric_name` is better ("loss", "hamming_loss")."""
    return metric_name.endswith("loss")


def _check_names(names: Sequence[str], valid: Sequence[str]) -> None:
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; valid names are: {', '.join(valid)}")


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise numerator / denominator, with 0 where the denominator is 0 (zero_division=0)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _f1(true_positives: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    # 2tp / (2tp + fp + fn) == 2tp / (predicted + actual); this is the form scikit-learn
    # uses, and it is 0 (not NaN) when a class is neither predicted nor present.
    return _safe_divide(2 * true_positives, predicted + actual)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> np.ndarray:
    """Count matrix of shape (num_labels, num_labels): rows are gold classes, columns predicted ones."""
    labels = np.asarray(labels).ravel()
    predictions = np.asarray(predictions).ravel()
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions differ in length: {labels.size} vs {predictions.size}")
    for name, ids in (("labels", labels), ("predictions", predictions)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_labels):
            raise ValueError(f"{name} must be class ids in [0, {num_labels}), got range [{ids.min()}, {ids.max()}]")
    # One flat index per (gold, predicted) pair lets a single bincount fill the whole matrix.
    flat = labels.astype(np.int64) * num_labels + predictions.astype(np.int64)
    return np.bincount(flat, minlength=num_labels * num_labels).reshape(num_labels, num_labels)


def single_label_metrics(
    labels: np.ndarray,
    predictions: np.ndarray,
    num_labels: int,
    names: Sequence[str] = SINGLE_LABEL_METRICS,
) -> dict[str, float]:
    """Accuracy and macro/micro/weighted F1 for integer class ids, over all `num_labels` classes.

    Classes absent from both gold and predictions count as F1 0 in the macro average, like
    scikit-learn's `f1_score(..., labels=range(num_labels), zero_division=0)`.
    """
    _check_names(names, SINGLE_LABEL_METRICS)
    matrix = confusion_matrix(labels, predictions, num_labels)
    total = matrix.sum()
    if total == 0:
        raise ValueError("cannot compute metrics on zero examples")
    true_positives = np.diag(matrix)
    support = matrix.sum(axis=1)
    per_class_f1 = _f1(true_positives, matrix.sum(axis=0), support)

    # With every class counted, micro precision and micro recall are both tp / total,
    # so micro F1 coincides with accuracy for single-label data.
    accuracy = float(true_positives.sum() / total)
    available = {
        "accuracy": accuracy,
        "macro_f1": float(per_class_f1.mean()),
        "micro_f1": accuracy,
        "weighted_f1": float((per_class_f1 * support).sum() / total),
    }
    return {name: available[name] for name in names}


def _as_label_matrices(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    targets = np.asarray(targets)
    scores = np.asarray(scores)
    if targets.ndim != 2 or targets.shape != scores.shape:
        raise ValueError(f"expected two (n, num_labels) arrays of one shape, got {targets.shape} and {scores.shape}")
    return targets.astype(bool), scores


def label_ranking_average_precision(targets: np.ndarray, probabilities: np.ndarray) -> float:
    """Label ranking average precision, as scikit-learn's `label_ranking_average_precision_score`.

    For each gold label j of a row: (gold labels scored >= j) / (labels scored >= j), averaged
    over the row's gold labels, then over rows. Ties count against the ranking (every tied
    label is ranked at the worst position), and rows whose labels are all gold or all
    non-gold score 1.0, because their ranking carries no information.
    """
    gold, scores = _as_label_matrices(targets, probabilities)
    num_rows, num_labels = gold.shape
    if num_rows == 0:
        raise ValueError("cannot compute lrap on zero rows")
    row_scores = np.ones(num_rows)
    block = max(1, _LRAP_BLOCK_ELEMENTS // max(1, num_labels * num_labels))
    for start in range(0, num_rows, block):
        g = gold[start : start + block]
        s = scores[start : start + block]
        # at_least[r, j, l]: label l scores at least as high as label j in row r.
        at_least = s[:, None, :] >= s[:, :, None]
        rank = at_least.sum(axis=2)
        gold_rank = (at_least & g[:, None, :]).sum(axis=2)
        precision_at_j = np.where(g, gold_rank / rank, 0.0)
        num_gold = g.sum(axis=1)
        informative = (num_gold > 0) & (num_gold < num_labels)
        row_scores[start : start + block] = np.where(
            informative, precision_at_j.sum(axis=1) / np.maximum(num_gold, 1), 1.0
        )
    return float(row_scores.mean())


def multi_label_metrics(
    targets: np.ndarray,
    probabilities: np.ndarray,
    thresholds: np.ndarray | float,
    names: Sequence[str] = MULTI_LABEL_METRICS,
) -> dict[str, float]:
    """Multi-label metrics for 0/1 `targets` and `probabilities`, both of shape (n, num_labels).

    A label is predicted when its probability is >= its threshold; `thresholds` is a scalar
    or one value per label. F1 averages follow scikit-learn with `zero_division=0`: a label
    (macro) or a row (samples) with no gold and no predicted positives scores 0.
    """
    _check_names(names, MULTI_LABEL_METRICS)
    gold, scores = _as_label_matrices(targets, probabilities)
    if gold.shape[0] == 0:
        raise ValueError("cannot compute metrics on zero rows")
    predicted = scores >= np.asarray(thresholds)
    hits = gold & predicted

    # Each metric is a cheap reduction, but only the requested ones are computed.
    compute = {
        "lrap": lambda: label_ranking_average_precision(gold, scores),
        "macro_f1": lambda: _f1(hits.sum(axis=0), predicted.sum(axis=0), gold.sum(axis=0)).mean(),
        "micro_f1": lambda: _f1(hits.sum(), predicted.sum(), gold.sum()),
        "samples_f1": lambda: _f1(hits.sum(axis=1), predicted.sum(axis=1), gold.sum(axis=1)).mean(),
        "hamming_loss": lambda: np.mean(gold != predicted),
        "subset_accuracy": lambda: np.mean(np.all(gold == predicted, axis=1)),
    }
    return {name: float(compute[name]()) for name in names}


def _best_threshold(gold: np.ndarray, scores: np.ndarray, candidates: np.ndarray) -> float:
    """The candidate c maximising F1 of `scores >= c` for one label; ties go to the one nearest 0.5."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    # positives_from[i] = gold positives among the rows ranked i and above (ascending order);
    # the extra trailing 0 covers candidates above every score.
    positives_from = np.append(np.cumsum(gold[order][::-1])[::-1], 0)
    first_predicted = np.searchsorted(sorted_scores, candidates, side="left")
    true_positives = positives_from[first_predicted]
    num_predicted = scores.size - first_predicted
    f1 = _f1(true_positives, num_predicted, gold.sum())
    # Equal fractions divide to bit-identical floats, so exact equality finds true F1 ties.
    tied = np.flatnonzero(f1 == f1.max())
    return float(candidates[tied[np.argmin(np.abs(candidates[tied] - 0.5))]])


def tune_thresholds(
    targets: np.ndarray,
    probabilities: np.ndarray,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """One decision threshold per label, maximising that label's F1 on the given data.

    By default the candidates for a label are its distinct predicted probabilities, which
    cover every distinct cut, so the returned threshold reproduces the best cut exactly via
    `probabilities >= threshold`. Among cuts with equal F1 the threshold closest to 0.5 wins
    (the lower one if two are equally close). Labels without any gold positive get 0.5,
    since their F1 is 0 whatever the threshold.
    """
    gold, scores = _as_label_matrices(targets, probabilities)
    thresholds = np.full(gold.shape[1], 0.5)
    for label in range(gold.shape[1]):
        if not gold[:, label].any():
            continue
        label_candidates = np.unique(scores[:, label] if candidates is None else np.asarray(candidates))
        if label_candidates.size:
            thresholds[label] = _best_threshold(gold[:, label], scores[:, label], label_candidates)
    return thresholds


def one_hot(ids: np.ndarray, num_labels: int) -> np.ndarray:
    """Turn integer class ids of shape (n,) into a 0/1 int matrix of shape (n, num_labels)."""
    ids = np.asarray(ids).ravel()
    if ids.size and (ids.min() < 0 or ids.max() >= num_labels):
        raise ValueError(f"class ids must lie in [0, {num_labels}), got range [{ids.min()}, {ids.max()}]")
    encoded = np.zeros((ids.size, num_labels), dtype=np.int64)
    encoded[np.arange(ids.size), ids] = 1
    return encoded


def per_label_report(
    targets: np.ndarray,
    predicted: np.ndarray,
    label_names: Sequence[str],
) -> list[dict]:
    """Precision, recall, F1 and support for each label of 0/1 matrices of shape (n, num_labels).

    For single-label data, pass `one_hot(labels, k)` and `one_hot(predictions, k)`.
    Undefined ratios (no predictions, no gold rows) are reported as 0.
    """
    gold, chosen = _as_label_matrices(targets, predicted)
    chosen = chosen.astype(bool)
    if len(label_names) != gold.shape[1]:
        raise ValueError(f"got {len(label_names)} label names for {gold.shape[1]} labels")
    hits = (gold & chosen).sum(axis=0)
    num_predicted = chosen.sum(axis=0)
    support = gold.sum(axis=0)
    precision = _safe_divide(hits, num_predicted)
    recall = _safe_divide(hits, support)
    f1 = _f1(hits, num_predicted, support)
    return [
        {
            "label": name,
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(label_names)
    ]
