"""The metrics under the names the config uses (scikit-learn's, with every label counted and zero_division=0),
and the vectorised threshold search against a plain one."""

import numpy as np
import pytest
from sklearn import metrics as skm

from koelectra_cookbook.classifier.metrics import (
    confusion_matrix,
    multi_label_metrics,
    per_label_report,
    single_label_metrics,
    tune_thresholds,
)
from koelectra_cookbook.classifier.names import MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS, is_minimized


def sklearn_single_label(labels: np.ndarray, predictions: np.ndarray, num_labels: int) -> dict[str, float]:
    classes = list(range(num_labels))

    def f1(average: str) -> float:
        return skm.f1_score(labels, predictions, labels=classes, average=average, zero_division=0)

    return {
        "accuracy": skm.accuracy_score(labels, predictions),
        "macro_f1": f1("macro"),
        "micro_f1": f1("micro"),
        "weighted_f1": f1("weighted"),
    }


def sklearn_multi_label(targets: np.ndarray, probabilities: np.ndarray, thresholds) -> dict[str, float]:
    predicted = (probabilities >= thresholds).astype(int)

    def f1(average: str) -> float:
        return skm.f1_score(targets, predicted, average=average, zero_division=0)

    return {
        "lrap": skm.label_ranking_average_precision_score(targets, probabilities),
        "macro_f1": f1("macro"),
        "micro_f1": f1("micro"),
        "samples_f1": f1("samples"),
        "hamming_loss": skm.hamming_loss(targets, predicted),
        "subset_accuracy": skm.accuracy_score(targets, predicted),
    }


def assert_metrics_close(ours: dict[str, float], reference: dict[str, float]) -> None:
    assert set(ours) == set(reference)
    for name, value in ours.items():
        assert type(value) is float, name
        assert value == pytest.approx(reference[name], abs=1e-12), name


def test_is_minimized():
    assert is_minimized("loss") and is_minimized("hamming_loss")
    assert not any(is_minimized(name) for name in ("accuracy", "macro_f1", "lrap", "subset_accuracy"))


def test_confusion_matrix_rows_are_gold_columns_predicted():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predictions = np.array([0, 1, 1, 2, 0, 2])
    expected = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(confusion_matrix(labels, predictions, 4), expected)
    np.testing.assert_array_equal(expected, skm.confusion_matrix(labels, predictions, labels=range(4)))


def test_confusion_matrix_rejects_out_of_range_ids():
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix(np.array([0, 1]), np.array([0, 3]), 3)


def test_single_label_hand_made_with_absent_classes():
    # Class 3 never appears anywhere (F1 0 in the macro mean); class 2 is never predicted.
    labels = np.array([0, 0, 1, 1, 2, 0, 1])
    predictions = np.array([0, 1, 1, 1, 0, 0, 0])
    ours = single_label_metrics(labels, predictions, num_labels=4)
    assert_metrics_close(ours, sklearn_single_label(labels, predictions, 4))
    # Per-class F1: class 0 has tp 2, 4 predicted, 3 gold -> 4/7; class 1 has tp 2, 3 predicted, 3 gold -> 4/6.
    assert ours["macro_f1"] == pytest.approx((4 / 7 + 4 / 6) / 4)


@pytest.mark.parametrize("seed", range(6))
def test_single_label_random_against_sklearn(seed):
    rng = np.random.default_rng(seed)
    num_labels = int(rng.integers(2, 8))
    n = int(rng.integers(1, 60))
    # Drawing from a subset of classes leaves some classes absent from gold or from predictions.
    labels = rng.integers(0, max(1, num_labels - 1), size=n)
    predictions = rng.integers(1, num_labels, size=n) if seed % 2 else rng.integers(0, num_labels, size=n)
    ours = single_label_metrics(labels, predictions, num_labels)
    assert_metrics_close(ours, sklearn_single_label(labels, predictions, num_labels))


def test_single_label_names_select_metrics_and_unknown_names_fail():
    labels = np.array([0, 1, 1])
    assert list(single_label_metrics(labels, labels, 2, names=("weighted_f1", "accuracy"))) == [
        "weighted_f1",
        "accuracy",
    ]
    with pytest.raises(ValueError, match="accuracy, macro_f1, micro_f1, weighted_f1"):
        single_label_metrics(labels, labels, 2, names=("lrap",))
    assert SINGLE_LABEL_METRICS == ("accuracy", "macro_f1", "micro_f1", "weighted_f1")


def test_multi_label_hand_made_against_sklearn():
    targets = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1]])
    probabilities = np.array(
        [[0.9, 0.2, 0.4], [0.1, 0.6, 0.3], [0.5, 0.5, 0.1], [0.7, 0.8, 0.2]]
    )  # row 2 ties a gold and a non-gold label at 0.5
    for thresholds in (0.5, np.array([0.5, 0.7, 0.3])):
        ours = multi_label_metrics(targets, probabilities, thresholds)
        assert_metrics_close(ours, sklearn_multi_label(targets, probabilities, thresholds))


def test_lrap_ties_count_against_the_ranking():
    # One gold label tied with two others at the top: precision at it = 1 gold / 3 labels scored >= it.
    targets = np.array([[0, 1, 0, 0]])
    probabilities = np.array([[0.5, 0.5, 0.5, 0.1]])
    ours = multi_label_metrics(targets, probabilities, 0.5, names=("lrap",))["lrap"]
    assert ours == pytest.approx(1 / 3)
    assert ours == pytest.approx(skm.label_ranking_average_precision_score(targets, probabilities))


def test_rows_without_gold_labels():
    # sklearn: lrap of such a row is 1.0; with zero_division=0 its samples-F1 is 0 even when nothing is predicted.
    targets = np.array([[0, 0, 0], [1, 0, 1]])
    probabilities = np.array([[0.1, 0.2, 0.3], [0.9, 0.1, 0.6]])
    ours = multi_label_metrics(targets, probabilities, 0.5)
    assert ours["lrap"] == 1.0
    assert ours["samples_f1"] == 0.5
    assert_metrics_close(ours, sklearn_multi_label(targets, probabilities, 0.5))


@pytest.mark.parametrize("seed", range(6))
def test_multi_label_random_against_sklearn(seed):
    rng = np.random.default_rng(100 + seed)
    n, k = int(rng.integers(1, 80)), int(rng.integers(2, 9))
    targets = (rng.random((n, k)) < rng.uniform(0.1, 0.6)).astype(int)
    targets[rng.random(n) < 0.2] = 0  # some rows with no gold label
    targets[:, 0] = 0 if seed % 2 else targets[:, 0]  # sometimes a label absent from gold
    # Rounding to one decimal produces many ties for lrap and for thresholds.
    probabilities = np.round(rng.random((n, k)), 1)
    thresholds = np.round(rng.uniform(0.2, 0.8, size=k), 1) if seed % 3 else 0.5
    ours = multi_label_metrics(targets, probabilities, thresholds)
    assert_metrics_close(ours, sklearn_multi_label(targets, probabilities, thresholds))


def test_multi_label_unknown_name_and_shape_mismatch():
    targets = np.array([[1, 0]])
    with pytest.raises(ValueError, match="lrap, macro_f1"):
        multi_label_metrics(targets, np.array([[0.4, 0.6]]), 0.5, names=("accuracy",))
    with pytest.raises(ValueError, match="shape"):
        multi_label_metrics(targets, np.array([0.4, 0.6]), 0.5)
    assert "hamming_loss" in MULTI_LABEL_METRICS


def test_tune_thresholds_finds_known_best_cuts_and_beats_half():
    targets = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 0]])
    probabilities = np.array(
        [
            [0.30, 0.60, 0.1],
            [0.35, 0.70, 0.2],
            [0.10, 0.80, 0.3],
            [0.20, 0.90, 0.4],
            [0.15, 0.75, 0.9],
        ]
    )
    # Label 0 separates perfectly at 0.30 (its positives are all under 0.5), label 1 at 0.80;
    # label 2 has no gold positive, so it keeps 0.5.
    thresholds = tune_thresholds(targets, probabilities)
    np.testing.assert_array_equal(thresholds, [0.30, 0.80, 0.5])
    tuned = multi_label_metrics(targets, probabilities, thresholds, names=("macro_f1",))["macro_f1"]
    fixed = multi_label_metrics(targets, probabilities, 0.5, names=("macro_f1",))["macro_f1"]
    assert tuned == pytest.approx(2 / 3)  # two labels at F1 1, the gold-less label at 0
    assert tuned > fixed


def test_tune_thresholds_prefers_the_cut_nearest_half_on_equal_f1():
    # Cut at 0.95: tp 1 of 1 predicted, 2 gold -> F1 2/3. Cut at 0.52: tp 2 of 4 -> 4/6, the same F1.
    targets = np.array([[1], [0], [0], [1]])
    probabilities = np.array([[0.95], [0.6], [0.55], [0.52]])
    np.testing.assert_array_equal(tune_thresholds(targets, probabilities), [0.52])


def test_tune_thresholds_with_explicit_candidates():
    targets = np.array([[1], [0], [1], [0]])
    probabilities = np.array([[0.9], [0.4], [0.6], [0.2]])
    # Only the given candidates are tried: 0.3 predicts {0.9, 0.4, 0.6} (F1 0.8), 0.5 predicts {0.9, 0.6} (F1 1),
    # 0.95 predicts nothing (F1 0).
    np.testing.assert_array_equal(tune_thresholds(targets, probabilities, np.array([0.3, 0.5, 0.95])), [0.5])


@pytest.mark.parametrize("seed", range(4))
def test_tune_thresholds_random_matches_brute_force(seed):
    rng = np.random.default_rng(200 + seed)
    n, k = 40, 5
    targets = (rng.random((n, k)) < 0.3).astype(int)
    probabilities = np.round(rng.random((n, k)), 2).astype(np.float32)
    thresholds = tune_thresholds(targets, probabilities)
    for label in range(k):
        gold = targets[:, label]
        if not gold.any():
            assert thresholds[label] == 0.5
            continue
        candidates = np.unique(probabilities[:, label])
        # Brute force with the textbook formula (sklearn per candidate would be slow).
        predicted = probabilities[:, label][None, :] >= candidates[:, None]
        hits = (predicted & (gold == 1)).sum(axis=1)
        scores = 2 * hits / (predicted.sum(axis=1) + gold.sum())
        best = max(scores)
        expected = min((abs(c - 0.5), c) for c, s in zip(candidates, scores) if np.isclose(s, best))[1]
        assert thresholds[label] == expected
        # The returned float64 threshold reproduces the cut on the float32 probabilities.
        assert skm.f1_score(gold, probabilities[:, label] >= thresholds[label]) == pytest.approx(best)


def test_per_label_report_against_sklearn():
    labels = np.array([0, 2, 2, 1, 0])
    predictions = np.array([0, 2, 1, 1, 1])
    names = ["neg", "neu", "pos", "unused"]
    report = per_label_report(np.eye(4, dtype=np.int64)[labels], np.eye(4, dtype=np.int64)[predictions], names)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        labels, predictions, labels=range(4), zero_division=0
    )
    assert [row["label"] for row in report] == names
    for i, row in enumerate(report):
        assert row["precision"] == pytest.approx(precision[i])
        assert row["recall"] == pytest.approx(recall[i])
        assert row["f1"] == pytest.approx(f1[i])
        assert row["support"] == support[i] and type(row["support"]) is int


def test_per_label_report_multi_label_and_name_count():
    targets = np.array([[1, 0, 1], [0, 0, 1], [1, 1, 0]])
    predicted = np.array([[1, 1, 0], [0, 0, 1], [0, 1, 0]])
    report = per_label_report(targets, predicted, ["a", "b", "c"])
    precision, recall, f1, support = skm.precision_recall_fscore_support(targets, predicted, zero_division=0)
    np.testing.assert_allclose([r["precision"] for r in report], precision)
    np.testing.assert_allclose([r["recall"] for r in report], recall)
    np.testing.assert_allclose([r["f1"] for r in report], f1)
    assert [r["support"] for r in report] == list(support)
    with pytest.raises(ValueError, match="label names"):
        per_label_report(targets, predicted, ["a", "b"])
