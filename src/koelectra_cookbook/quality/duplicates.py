"""Duplicates inside the training rows and leaks from them into the evaluation file, for audit.py.

Rows are grouped by data/overlap.py's keys: exact (the text as the model reads it) and near (also ignoring case,
punctuation, spaces and repeated characters). A group whose rows carry different labels is a conflict: the
same text taught two ways, so at least one of them is wrong. An evaluation row whose text stands in the training
rows is a leak: the score on it measures memory. Every row of the CSVs is a training row named by file and line,
so a list cut down to the rows to drop is data.exclude's input as it is.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from koelectra_cookbook.data.dataset import NamedRows
from koelectra_cookbook.data.overlap import exact_key, keys, label_key, near_key


def shown_label(label, label_names: list[str], regression: bool) -> str:
    """A row's label as a person reads it: its name, the names of a multi-hot row joined by |, or the score."""
    if regression:
        return f"{float(label):g}"
    if np.ndim(label):
        return "|".join(name for name, on in zip(label_names, label) if on)
    return label_names[int(label)]


def _text_columns(rows: NamedRows, picked: list[int]) -> dict[str, list]:
    columns = {"text": [rows.texts[i] for i in picked]}
    if rows.pairs is not None:
        columns["text_pair"] = [rows.pairs[i] for i in picked]
    return columns


def find_duplicates(train: NamedRows, label_names: list[str], regression: bool = False) -> tuple[dict, dict]:
    """duplicates.csv's columns (every training row in a group of two or more by the near key, conflicts and
    larger groups first) and the counts for the summary."""
    exact, near = keys(train.texts, train.pairs, exact_key), keys(train.texts, train.pairs, near_key)
    labels = [label_key(label) for label in train.labels]
    groups: dict[str, list[int]] = defaultdict(list)
    for row, key in enumerate(near):
        groups[key].append(row)
    repeated = [rows for rows in groups.values() if len(rows) > 1]
    labels_of_text: dict[str, set[str]] = defaultdict(set)
    for key, label in zip(exact, labels):
        labels_of_text[key].add(label)
    conflicting_texts = {key for key, found in labels_of_text.items() if len(found) > 1}

    def conflict(rows: list[int]) -> bool:
        return len({labels[i] for i in rows}) > 1

    repeated.sort(key=lambda rows: (not conflict(rows), -len(rows), rows[0]))
    picked, group, kind, conflicts, copies = [], [], [], [], []
    for number, rows in enumerate(repeated, start=1):
        same_text = len({exact[i] for i in rows}) == 1
        for row in rows:
            picked.append(row)
            group.append(number)
            kind.append("exact" if same_text else "near")
            conflicts.append("yes" if conflict(rows) else "no")
            copies.append(len(rows))
    columns = {"group": group, "kind": kind, "labels_differ": conflicts, "copies": copies,
               "file": [train.files[i] for i in picked], "line": [int(train.lines[i]) for i in picked],
               **_text_columns(train, picked),
               "label": [shown_label(train.labels[i], label_names, regression) for i in picked]}
    summary = {
        "training_rows": len(train.texts),
        "exact_duplicate_rows": len(exact) - len(set(exact)),  # rows beyond each text's first
        "near_duplicate_rows": len(near) - len(groups),
        "groups": len(repeated),
        "near_only_groups": sum(len({exact[i] for i in rows}) > 1 for rows in repeated),
        "texts_with_different_labels": len(conflicting_texts),
        "rows_with_different_labels": sum(key in conflicting_texts for key in exact),
    }
    return columns, summary


def find_leaks(train: NamedRows, evaluation: NamedRows, label_names: list[str],
               regression: bool = False) -> tuple[dict, dict]:
    """leaks.csv's columns (for every evaluation row whose text stands in the training rows, exactly or near,
    one row per training copy) and the counts for the summary."""
    copies_exact: dict[str, list[int]] = defaultdict(list)
    copies_near: dict[str, list[int]] = defaultdict(list)
    for row, (key, near) in enumerate(zip(keys(train.texts, train.pairs, exact_key),
                                          keys(train.texts, train.pairs, near_key))):
        copies_exact[key].append(row)
        copies_near[near].append(row)
    train_labels = [label_key(label) for label in train.labels]
    picked, eval_rows, kinds, same = [], [], [], []
    leaked = other_label = near_only = 0
    for row, (key, near) in enumerate(zip(keys(evaluation.texts, evaluation.pairs, exact_key),
                                          keys(evaluation.texts, evaluation.pairs, near_key))):
        found, kind = copies_exact.get(key), "exact"
        if not found:
            found, kind = copies_near.get(near), "near"
            if not found:
                continue
            near_only += 1
        else:
            leaked += 1
        label = label_key(evaluation.labels[row])
        if kind == "exact" and label not in {train_labels[i] for i in found}:
            other_label += 1
        for copy in found:
            picked.append(copy)
            eval_rows.append(row)
            kinds.append(kind)
            same.append("yes" if train_labels[copy] == label else "no")
    columns = {"kind": kinds, "file": [train.files[i] for i in picked],
               "line": [int(train.lines[i]) for i in picked], **_text_columns(train, picked),
               "label": [shown_label(train.labels[i], label_names, regression) for i in picked],
               "eval_file": [evaluation.files[i] for i in eval_rows],
               "eval_line": [int(evaluation.lines[i]) for i in eval_rows],
               "eval_label": [shown_label(evaluation.labels[i], label_names, regression) for i in eval_rows],
               "same_label": same}
    summary = {"evaluation_rows": len(evaluation.texts), "evaluation_rows_in_training": leaked,
               "of_them_with_another_label": other_label, "evaluation_rows_near_training": near_only}
    return columns, summary
