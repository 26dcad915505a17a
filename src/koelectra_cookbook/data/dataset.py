"""Rows read and validated -> labels mapped to ids -> train/dev/eval splits -> token ids, encoded once and cached.

The evaluation file is only ever reported on. Choices during training (best checkpoint, early stopping) use
the dev split held out from the training file, because NSMC and YNAT publish no labelled dev set beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from koelectra_cookbook.config.schema import Config, DataConfig, normalize_label
from koelectra_cookbook.data.token_cache import check_cache_dir, encode_texts
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.data.download import ensure_file
from koelectra_cookbook.data.readers import RowLines, detect_format, read_table
from koelectra_cookbook.config.tasks import task_spec


# Fewer dev rows than this and one row moves a metric by over 2%: choosing checkpoints on it follows noise.
SMALL_DEV_SPLIT = 50


@dataclass
class Split:
    """One set of examples: the texts, their label ids (in file order) and their token ids."""

    name: str
    texts: list[str]
    labels: np.ndarray
    token_ids: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.texts)

    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.token_ids), dtype=np.int64, count=len(self.token_ids))

    def subset(self, rows: np.ndarray, name: str | None = None) -> "Split":
        return Split(name or self.name, [self.texts[i] for i in rows], self.labels[rows],
                     [self.token_ids[i] for i in rows])


@dataclass
class TaskData:
    """Everything the trainer needs from the data side."""

    train: Split
    dev: Split | None
    eval: Split
    label_names: list[str]
    notes: list[str]  # what was dropped or cut, for the console and the run directory


@dataclass
class _RawFile:
    path: Path
    texts: list[str]
    label_values: list  # a label per row, or a tuple of labels per row (multi-label)
    lines: RowLines  # the line each row of the file starts on
    kept: np.ndarray  # the file's rows that were kept (rows with empty text are dropped)

    def line(self, row: int) -> int:
        """The physical line of kept row `row` (found only when a message needs it)."""
        return int(self.lines[self.kept[row]])


def load_task_data(config: Config, tokenizer, writes: bool = True) -> TaskData:
    """Read, validate, split and encode the task's files as the config describes them. With `writes` false
    (a resumed run, whose config may come from someone else), nothing is downloaded and the token cache is
    only read: the run writes nowhere but its own folder."""
    data = config.data
    spec = task_spec(config.task)
    data_dir = Path(data.dir)
    cache_dir = Path(data.cache_dir)
    if writes:
        check_cache_dir(cache_dir)
    notes: list[str] = []
    raw_files = []
    for file_name in (data.train_file, data.eval_file):
        if not file_name:
            raise UserError(f"config: data.train_file and data.eval_file must name files in data.dir ({data.dir})")
        path = ensure_file(data_dir, file_name, spec, data.download and writes)
        raw_files.append(_read_labelled(path, data, notes))
    train_raw, eval_raw = raw_files
    if train_raw.path.resolve() == eval_raw.path.resolve():
        notes.append(f"the evaluation file is the training file ({eval_raw.path.name}): its metrics are not held out")

    label_values = data.labels or data.label_columns or _infer_labels(train_raw.label_values, train_raw.path)
    label_names = data.label_names or label_values
    if data.multi_label:  # predictions.csv has a column per label beside these
        clash = next((name for name in label_names if name in ("text", "labels", "predicted")), None)
        if clash is not None:
            raise UserError(f"config: a multi-label label may not be called {clash!r} (predictions.csv has a column "
                            f"of that name); rename it with data.label_names")

    # Choose rows first, then tokenize only the rows that will be used.
    train_rows, dev_rows, eval_rows = _choose_rows(len(train_raw.texts), len(eval_raw.texts), data,
                                                   config.train.seed, notes)
    train_labels, eval_labels = (_label_ids(raw, label_values) for raw in (train_raw, eval_raw))
    train_all = _encode_split("train", train_raw, train_labels, np.concatenate([train_rows, dev_rows]), config,
                              tokenizer, writes)
    train = train_all.subset(np.arange(len(train_rows)))
    dev = train_all.subset(np.arange(len(train_rows), len(train_all)), "dev") if len(dev_rows) else None
    evaluation = _encode_split("eval", eval_raw, eval_labels, eval_rows, config, tokenizer, writes)
    return TaskData(train, dev, evaluation, list(label_names), notes)


def _choose_rows(train_count: int, eval_count: int, data: DataConfig, seed: int, notes: list[str]):
    """Seeded row indices (each sorted, so file order is kept) for train, the held-out dev split, and eval."""
    rng = np.random.default_rng(seed)
    train_rows = np.arange(train_count)
    if data.max_train_samples and data.max_train_samples < train_count:
        train_rows = np.sort(rng.permutation(train_count)[: data.max_train_samples])
        notes.append(f"train: using {len(train_rows)} rows (data.max_train_samples)")
    dev_rows = train_rows[:0]
    if data.dev_split > 0:
        dev_size = max(1, round(len(train_rows) * data.dev_split))
        if dev_size >= len(train_rows):
            raise UserError(f"config: data.dev_split {data.dev_split} leaves no training rows out of "
                            f"{len(train_rows)}")
        order = rng.permutation(len(train_rows))
        dev_rows, train_rows = np.sort(train_rows[order[:dev_size]]), np.sort(train_rows[order[dev_size:]])
        notes.append(f"dev: {len(dev_rows)} rows held out from {data.train_file} (data.dev_split={data.dev_split})")
        if len(dev_rows) < SMALL_DEV_SPLIT:
            notes.append(f"dev: {len(dev_rows)} rows are too few to choose a model on (one row moves accuracy by "
                         f"{1 / len(dev_rows):.0%}): choices made on it (the best checkpoint, early stopping, a "
                         f"sweep) follow noise; raise data.dev_split or bring more training rows")
    eval_rows = np.arange(eval_count)
    if data.max_eval_samples and data.max_eval_samples < eval_count:
        eval_rows = np.sort(rng.permutation(eval_count)[: data.max_eval_samples])
        notes.append(f"eval: using {len(eval_rows)} rows (data.max_eval_samples)")
    return train_rows, dev_rows, eval_rows


# Text that is empty to a reader: whitespace, and the invisible format characters (zero-width spaces and joiners,
# word joiners, BOMs) that str.strip() keeps.
_BLANK = r"[\s\u200b-\u200f\u2060-\u2064\ufeff]*"


def _read_labelled(path: Path, data: DataConfig, notes: list[str]) -> _RawFile:
    label_columns = data.label_columns or [data.label_column]
    table, lines = read_table(path, detect_format(path, data.format), [data.text_column, *label_columns],
                              data.encoding, text_column=data.text_column,
                              list_column=data.label_column if data.multi_label and not data.label_columns else None)
    texts = table[data.text_column].str.strip()
    empty = texts.str.fullmatch(_BLANK).to_numpy()
    if empty.all():
        raise UserError(f"{path}: every row has an empty {data.text_column!r}")
    kept = np.flatnonzero(~empty)
    if empty.any():
        dropped = lines[np.flatnonzero(empty)[:5]].tolist()
        count = int(empty.sum())
        rows, lines_word = ("row", "line") if count == 1 else ("rows", "lines")
        notes.append(f"{path.name}: {count} {rows} with empty text dropped ({lines_word} "
                     f"{', '.join(map(str, dropped))}{', ...' if count > 5 else ''})")
        table, texts = table[~empty], texts[~empty]
    spanning = texts.str.contains("\n", regex=False).to_numpy()
    if spanning.any():  # legal in CSV, but in a TSV usually a stray quote that swallowed the rows after it
        notes.append(f"{path.name}: {int(spanning.sum())} texts run over several lines, the first at line "
                     f"{lines[kept[np.flatnonzero(spanning)[0]]]} (a quoted field; check for a stray quote)")
    raw = _RawFile(path, texts.tolist(), [], lines, kept)
    if data.label_columns:
        raw.label_values = _labels_from_indicator_columns(raw, table, data.label_columns)
    elif data.multi_label:
        raw.label_values = [_parse_label_list(raw, row, value) for row, value in enumerate(table[data.label_column])]
    else:
        raw.label_values = [normalize_label(v) for v in table[data.label_column]]
        if "" in raw.label_values:
            raise UserError(f"{path}:{raw.line(raw.label_values.index(''))}: empty label in column "
                            f"{data.label_column!r}")
    for row, value in enumerate(raw.label_values):
        for name in value if isinstance(value, tuple) else (value,):
            if not name.isprintable():  # a NUL or a line break in a label is damage, not a class
                raise UserError(f"{path}:{raw.line(row)}: label {shown(name)} holds a control character")
    return raw


def _labels_from_indicator_columns(raw: _RawFile, table, columns: list[str]) -> list[tuple[str, ...]]:
    """Multi-label rows from one 0/1 column per label: each row becomes the tuple of its labels set to 1."""
    values = table[columns].map(normalize_label).to_numpy()
    bad = ~np.isin(values, ["0", "1"])
    if bad.any():
        row, column = map(int, np.argwhere(bad)[0])
        raise UserError(f"{raw.path}:{raw.line(row)}: column {columns[column]!r} must be 0 or 1, found "
                        f"{shown(values[row, column])}")
    return [tuple(name for name, value in zip(columns, row) if value == "1") for row in values]


def _parse_label_list(raw: _RawFile, row: int, value: str) -> tuple[str, ...]:
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


def _infer_labels(values: list, path: Path) -> list[str]:
    if values and isinstance(values[0], tuple):
        found = sorted({name for names in values for name in names})
    else:
        found = sorted(set(values))
    try:
        found.sort(key=float)  # 2 before 10 when the labels are numbers
    except ValueError:
        pass
    if len(found) < 2:
        has = f"only one label value {shown(found[0])}" if found else "no labels"
        raise UserError(f"{path}: the training file has {has}; a classifier needs at least two")
    return found


def _label_ids(raw: _RawFile, label_values: list[str]) -> np.ndarray:
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
                                f"{shown(label_values, 200)} (data.labels)")
            if multi_label:
                ids[row, label_ids[name]] = 1.0
            else:
                ids[row] = label_ids[name]
    return ids


def _encode_split(name: str, raw: _RawFile, labels: np.ndarray, rows: np.ndarray, config: Config,
                  tokenizer, writes: bool) -> Split:
    texts = [raw.texts[i] for i in rows]
    token_ids = encode_texts(texts, tokenizer, config.model.max_seq_len, Path(config.data.cache_dir),
                             write_cache=writes)
    return Split(name, texts, labels[rows], token_ids)
