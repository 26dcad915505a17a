"""Evaluation metrics for single-label and multi-label classification and for regression, as the config names
them.

They are scikit-learn's, with `zero_division=0` and every label counted (a label absent from both gold and
predictions scores F1 0 in the macro average). Written here by hand is only the per-label threshold search of
multi-label models, vectorised over the candidate cuts: it is much faster than scoring each candidate with
scikit-learn, and a test checks it against that plain search (docs/benchmarks.md has the measured gap).
"""

from collections.abc import Sequence

import numpy as np
from sklearn import metrics

from koelectra_cookbook.classifier.names import MULTI_LABEL_METRICS, REGRESSION_METRICS, SINGLE_LABEL_METRICS



def _check_names(names: Sequence[str], valid: Sequence[str]) -> None:
    unknown = [name for name in names if name not in valid]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; valid names are: {', '.join(valid)}")


def _class_ids(ids: np.ndarray, num_labels: int, name: str) -> np.ndarray:
    ids = np.asarray(ids).ravel()
    if ids.size and (ids.min() < 0 or ids.max() >= num_labels):
        raise ValueError(f"{name} must be class ids in [0, {num_labels}), got range [{ids.min()}, {ids.max()}]")
    return ids


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> np.ndarray:
    """Count matrix of shape (num_labels, num_labels): rows are gold classes, columns predicted ones."""
    labels, predictions = _class_ids(labels, num_labels, "labels"), _class_ids(predictions, num_labels, "predictions")
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions differ in length: {labels.size} vs {predictions.size}")
    return metrics.confusion_matrix(labels, predictions, labels=range(num_labels))


def single_label_metrics(labels: np.ndarray, predictions: np.ndarray, num_labels: int,
                         names: Sequence[str] = SINGLE_LABEL_METRICS) -> dict[str, float]:
    """Accuracy and macro/micro/weighted F1 for integer class ids, over all `num_labels` classes."""
    _check_names(names, SINGLE_LABEL_METRICS)
    labels, predictions = _class_ids(labels, num_labels, "labels"), _class_ids(predictions, num_labels, "predictions")
    if labels.size == 0:
        raise ValueError("cannot compute metrics on zero examples")

    def f1(average: str) -> float:
        return metrics.f1_score(labels, predictions, labels=range(num_labels), average=average, zero_division=0)

    compute = {"accuracy": lambda: metrics.accuracy_score(labels, predictions), "macro_f1": lambda: f1("macro"),
               "micro_f1": lambda: f1("micro"), "weighted_f1": lambda: f1("weighted")}
    return {name: float(compute[name]()) for name in names}


def regression_metrics(scores: np.ndarray, predicted: np.ndarray, names: Sequence[str] = REGRESSION_METRICS[:3],
                       threshold: float | None = None) -> dict[str, float]:
    """Pearson's and Spearman's correlation and the mean squared error of predicted against gold scores
    (scipy's, which scikit-learn installs); binary_f1 is the F1 of `predicted >= threshold` against
    `scores >= threshold` (KLUE-STS's F1, at 3.0). A constant prediction correlates with nothing: 0."""
    _check_names(names, REGRESSION_METRICS)
    from scipy import stats

    scores, predicted = np.asarray(scores, dtype=np.float64).ravel(), np.asarray(predicted, dtype=np.float64).ravel()
    if scores.size == 0 or scores.shape != predicted.shape:
        raise ValueError(f"expected two arrays of one non-zero length, got {scores.size} and {predicted.size}")
    if "binary_f1" in names and threshold is None:
        raise ValueError("binary_f1 needs train.binary_threshold")

    def correlation(function) -> float:
        if np.ptp(scores) == 0 or np.ptp(predicted) == 0:
            return 0.0
        return float(function(scores, predicted)[0])

    compute = {"pearson": lambda: correlation(stats.pearsonr), "spearman": lambda: correlation(stats.spearmanr),
               "mse": lambda: float(np.mean((scores - predicted) ** 2)),
               "binary_f1": lambda: metrics.f1_score(scores >= threshold, predicted >= threshold, zero_division=0)}
    return {name: float(compute[name]()) for name in names}


def _as_label_matrices(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    targets, scores = np.asarray(targets), np.asarray(scores)
    if targets.ndim != 2 or targets.shape != scores.shape:
        raise ValueError(f"expected two (n, num_labels) arrays of one shape, got {targets.shape} and {scores.shape}")
    return targets.astype(bool), scores


def multi_label_metrics(targets: np.ndarray, probabilities: np.ndarray, thresholds: np.ndarray | float,
                        names: Sequence[str] = MULTI_LABEL_METRICS) -> dict[str, float]:
    """Multi-label metrics for 0/1 `targets` and `probabilities`, both of shape (n, num_labels). A label is
    predicted when its probability is >= its threshold (a scalar or one value per label)."""
    _check_names(names, MULTI_LABEL_METRICS)
    gold, scores = _as_label_matrices(targets, probabilities)
    if gold.shape[0] == 0:
        raise ValueError("cannot compute metrics on zero rows")
    predicted = scores >= np.asarray(thresholds)

    def f1(average: str) -> float:
        return metrics.f1_score(gold, predicted, average=average, zero_division=0)

    compute = {"lrap": lambda: metrics.label_ranking_average_precision_score(gold, scores),
               "macro_f1": lambda: f1("macro"), "micro_f1": lambda: f1("micro"), "samples_f1": lambda: f1("samples"),
               "hamming_loss": lambda: metrics.hamming_loss(gold, predicted),
               "subset_accuracy": lambda: metrics.accuracy_score(gold, predicted)}
    return {name: float(compute[name]()) for name in names}


def _f1(true_positives: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """2tp / (predicted + actual), elementwise, 0 where nothing is predicted or present (zero_division=0)."""
    denominator = np.asarray(predicted + actual, dtype=np.float64)
    out = np.zeros(denominator.shape)
    np.divide(2 * np.asarray(true_positives, dtype=np.float64), denominator, out=out, where=denominator != 0)
    return out


def _best_threshold(gold: np.ndarray, scores: np.ndarray, candidates: np.ndarray) -> float:
    """The candidate c maximising F1 of `scores >= c` for one label; ties go to the one nearest 0.5."""
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    # positives_from[i] = gold positives among the rows ranked i and above (ascending order);
    # the extra trailing 0 covers candidates above every score.
    positives_from = np.append(np.cumsum(gold[order][::-1])[::-1], 0)
    first_predicted = np.searchsorted(sorted_scores, candidates, side="left")
    f1 = _f1(positives_from[first_predicted], scores.size - first_predicted, gold.sum())
    # Equal fractions divide to bit-identical floats, so exact equality finds true F1 ties.
    tied = np.flatnonzero(f1 == f1.max())
    return float(candidates[tied[np.argmin(np.abs(candidates[tied] - 0.5))]])


def tune_thresholds(targets: np.ndarray, probabilities: np.ndarray,
                    candidates: np.ndarray | None = None) -> np.ndarray:
    """One decision threshold per label, maximising that label's F1 on the given data.

    By default the candidates for a label are its distinct predicted probabilities, which cover every distinct
    cut, so the returned threshold reproduces the best cut exactly via `probabilities >= threshold`. Among cuts
    with equal F1 the threshold closest to 0.5 wins (the lower one if two are equally close). Labels without any
    gold positive get 0.5, since their F1 is 0 whatever the threshold.
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


def per_label_report(targets: np.ndarray, predicted: np.ndarray, label_names: Sequence[str]) -> list[dict]:
    """Precision, recall, F1 and support for each label of 0/1 matrices of shape (n, num_labels). For
    single-label data, pass one-hot matrices (`np.eye(k)[labels]`)."""
    gold, chosen = _as_label_matrices(targets, predicted)
    if len(label_names) != gold.shape[1]:
        raise ValueError(f"got {len(label_names)} label names for {gold.shape[1]} labels")
    precision, recall, f1, support = metrics.precision_recall_fscore_support(gold, chosen.astype(bool),
                                                                             average=None, zero_division=0)
    return [{"label": name, "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
             "support": int(support[i])} for i, name in enumerate(label_names)]
