"""Labels as the trainer needs them: names read from a file's label cells (a class, a JSON list or a|b of names,
one 0/1 column per label, or a score) turned into class ids, multi-hot rows or float scores. Every bad value is
an error naming its file and line (`raw.line(row)`: the rows are those of raw_files.py's RawFile)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.files.values import normalize_label, parse_decimal


def labels_from_indicator_columns(raw, table, columns: list[str]) -> list[tuple[str, ...]]:
    """Multi-label rows from one 0/1 column per label: each row becomes the tuple of its labels set to 1."""
    values = table[columns].map(normalize_label).to_numpy()
    bad = ~np.isin(values, ["0", "1"])
    if bad.any():
        row, column = map(int, np.argwhere(bad)[0])
        raise UserError(f"{raw.path}:{raw.line(row)}: column {columns[column]!r} must be 0 or 1, found "
                        f"{shown(values[row, column])}")
    return [tuple(name for name, value in zip(columns, row) if value == "1") for row in values]


def parse_label_list(raw, row: int, value: str) -> tuple[str, ...]:
    """A multi-label cell: a JSON list (["a", "b"]) or names joined by "|" ("a|b"); empty means no label."""
    text = value.strip()
    if text.startswith("["):
        try:
            items = json.loads(text)
        except (ValueError, RecursionError):
            items = None
        if not isinstance(items, list) or not all(isinstance(i, (str, int)) and not isinstance(i, bool)
                                                  for i in items):
            raise UserError(f"{raw.path}:{raw.line(row)}: {shown(text)} is not a JSON list of label names "
                            f"(write [\"a\", \"b\"] or a|b)")
    else:
        items = text.split("|")
    return tuple(dict.fromkeys(normalize_label(item) for item in items if str(item).strip()))


def infer_labels(values: list, path: Path) -> list[str]:
    if values and isinstance(values[0], tuple):
        found = sorted({name for names in values for name in names})
    else:
        found = sorted(set(values))
    numbers = all(parse_decimal(value) is not None for value in found)
    if numbers:
        found.sort(key=parse_decimal)  # 2 before 10 when the labels are numbers
    if numbers and any("." in value or "e" in value.lower() for value in found):  # 3.8, 4.2: scores, not classes
        raise UserError(f"{path}: the labels are numbers that are not whole ({shown(found[:5], 80)}...): for a "
                        f"score set train.task_type: regression; for classes list them in data.labels")
    if len(found) < 2:
        has = f"only one label value {shown(found[0])}" if found else "no labels"
        raise UserError(f"{path}: the training file has {has}; a classifier needs at least two")
    return found


# The largest score a regression file may hold: the loss squares the distance between a prediction and its score
# (in float32, up to 3.4e38), and a batch sums those. At 1e9 a squared distance is about 1e18, far inside; at 1e25
# the first step's loss is already infinite.
SCORE_LIMIT = 1e9


def scores(raw) -> np.ndarray:
    """Regression targets: one number per row, written in decimal with ASCII digits (files.values) and at most
    SCORE_LIMIT in size, or an error naming the line."""
    scores = np.empty(len(raw.label_values), dtype=np.float32)
    for row, value in enumerate(raw.label_values):
        number = parse_decimal(str(value))
        if number is None:
            raise UserError(f"{raw.path}:{raw.line(row)}: score {shown(value)} is not a finite number "
                            f"(train.task_type is regression)")
        if abs(number) > SCORE_LIMIT:
            raise UserError(f"{raw.path}:{raw.line(row)}: score {shown(value)} is beyond ±{SCORE_LIMIT:g}, more than "
                            f"the loss can hold; rescale the scores (e.g. to 0-5)")
        scores[row] = number
    return scores


def check_scores_vary(dev_scores: np.ndarray | None, eval_scores: np.ndarray, chooser: str | None,
                      dev_source: str, notes: list[str]) -> None:
    """A correlation is undefined on scores that are all one value (metrics.py reports 0): a dev split of equal
    scores cannot choose a checkpoint by one (`chooser`, train.es_metric: the first would always win), and an
    evaluation file of them is noted."""
    if dev_scores is not None and len(dev_scores) and np.ptp(dev_scores) == 0 and chooser in ("pearson", "spearman"):
        raise UserError(f"dev: every score of the dev split ({dev_source}) is {dev_scores[0]:g}, so {chooser} is "
                        f"undefined on it and cannot choose a checkpoint; give a dev file whose scores vary, or set "
                        f"train.es_metric: mse")
    if len(eval_scores) and np.ptp(eval_scores) == 0:
        notes.append(f"eval: every score is {eval_scores[0]:g}, so pearson and spearman are undefined on it "
                     f"(reported as 0)")


def label_ids(raw, label_values: list[str], where: str = "data.labels") -> np.ndarray:
    """Label id of every row (single-label), or a float multi-hot row per example (multi-label).
    A value outside the label set is an error naming its line."""
    label_ids = {value: i for i, value in enumerate(label_values)}
    multi_label = bool(raw.label_values) and isinstance(raw.label_values[0], tuple)
    ids = np.zeros((len(raw.label_values), len(label_values)), dtype=np.float32) if multi_label \
        else np.empty(len(raw.label_values), dtype=np.int64)
    for row, value in enumerate(raw.label_values):
        for name in (value if multi_label else (value,)):
            if name not in label_ids:
                raise UserError(f"{raw.path}:{raw.line(row)}: label {shown(name)} is not in the label set "
                                f"{shown(label_values, 200)} ({where})")
            if multi_label:
                ids[row, label_ids[name]] = 1.0
            else:
                ids[row] = label_ids[name]
    return ids
