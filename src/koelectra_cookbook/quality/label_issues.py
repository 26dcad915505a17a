"""Label issues: rows whose given label the data itself argues against, found by cleanlab (Northcutt et al.,
confident learning) from out-of-fold probabilities: each row scored by a model that never trained on it.

What is here: the folds (copies of one text always share a fold, so no model is scored on a text it learnt; the
labels spread evenly over the folds), the checks that make the folds meaningful, and cleanlab's verdict as
columns. The training of the folds is experiments/audit.py's.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

from koelectra_cookbook.errors import UserError, shown


def assign_folds(labels: np.ndarray, groups: list[str], folds: int, seed: int, label_names: list[str]) -> np.ndarray:
    """Each row's fold (0..folds-1). Single-label: stratified by label and grouped by text; multi-label: grouped.
    Refused: one label only, a label with fewer rows than folds, or a fold whose training rows lack a label."""
    multi_label = labels.ndim == 2
    counts = labels.sum(axis=0).astype(int) if multi_label else np.bincount(labels, minlength=len(label_names))
    present = np.flatnonzero(counts)
    if len(present) < 2 and not multi_label:
        raise UserError(f"data: the training rows carry one label only ({shown(label_names[present[0]])}): there "
                        f"is no other label to suspect")
    if folds < 2:
        raise UserError(f"--folds {folds}: needs at least 2 (each row is scored by a model trained on the others)")
    if folds > len(labels):
        raise UserError(f"--folds {folds}: more folds than the {len(labels)} training rows")
    rare = [(label_names[i], int(counts[i])) for i in present if counts[i] < folds]
    if rare:
        name, count = min(rare, key=lambda pair: pair[1])
        raise UserError(f"--folds {folds}: label {shown(name)} has {count} training rows, fewer than the folds, so "
                        f"some fold's model would be scored on it without a fair share to learn from; lower --folds "
                        f"to {max(2, count)} or bring more rows of it")
    ids = np.unique(groups, return_inverse=True)[1]
    if multi_label:
        splitter = GroupKFold(n_splits=folds)
        parts = splitter.split(np.zeros(len(labels)), groups=ids)
    else:
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        parts = splitter.split(np.zeros(len(labels)), labels, groups=ids)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for fold, (_, held_out) in enumerate(parts):
        fold_of[held_out] = fold
    for fold in range(folds):
        trained = labels[fold_of != fold]
        seen = trained.sum(axis=0) > 0 if multi_label else np.bincount(trained, minlength=len(label_names)) > 0
        missing = [label_names[i] for i in present if not seen[i]]
        if missing:
            raise UserError(f"--folds {folds}: fold {fold + 1} would train without any row of label "
                            f"{shown(missing[0])} (its rows share one text or fall together); lower --folds")
    return fold_of


def check_probabilities(probabilities: np.ndarray, rows: int, labels: int, multi_label: bool, where: str) -> None:
    """Out-of-fold probabilities as cleanlab needs them: one row per training row, finite, in [0, 1], and for
    single-label each row summing to 1. Anything else is damage (a fold file edited, a model gone wrong)."""
    if probabilities.shape != (rows, labels):
        raise UserError(f"{where}: expected probabilities for {rows} rows x {labels} labels, found "
                        f"{probabilities.shape[0]} x {probabilities.shape[1] if probabilities.ndim > 1 else 0}")
    if not np.isfinite(probabilities).all() or probabilities.min() < 0 or probabilities.max() > 1:
        raise UserError(f"{where}: probabilities must be finite numbers in [0, 1]")
    if not multi_label and not np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3):
        raise UserError(f"{where}: each row's probabilities must sum to 1 (a softmax), found sums like "
                        f"{probabilities.sum(axis=1)[0]:.4f}")


def find_issues(labels: np.ndarray, probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cleanlab's suspects, most suspect first (their indices), and every row's label quality (0 to 1, lower is
    more suspect): `find_label_issues` ranked by self-confidence, multi-label through cleanlab's multi-label
    module."""
    if labels.ndim == 2:
        from cleanlab.multilabel_classification.filter import find_label_issues
        from cleanlab.multilabel_classification.rank import get_label_quality_scores

        given = [list(np.flatnonzero(row)) for row in labels]
        ranked = find_label_issues(labels=given, pred_probs=probabilities, return_indices_ranked_by="self_confidence",
                                   n_jobs=1)
        return np.asarray(ranked, dtype=np.int64), get_label_quality_scores(given, probabilities)
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    ranked = find_label_issues(labels, probabilities, return_indices_ranked_by="self_confidence", n_jobs=1)
    return np.asarray(ranked, dtype=np.int64), get_label_quality_scores(labels, probabilities)
