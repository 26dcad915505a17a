"""A task's data files (or a Hugging Face dataset's splits) read into labelled rows, before any row is chosen or
tokenized: texts, label values and the line each row starts on, with data.exclude's rows left out of training.
dataset.py makes splits and token ids of them; audit.py (experiments/audit.py) reads them to name rows by file
and line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from koelectra_cookbook.classifier.names import OUTPUT_COLUMNS
from koelectra_cookbook.config.schema import Config
from koelectra_cookbook.config.tasks import task_spec
from koelectra_cookbook.data.download import ensure_file
from koelectra_cookbook.data.exclude import check_every_file_named, excluded_rows, read_exclusions
from koelectra_cookbook.data.hub import HubSplit, checked_feature_labels, read_split
from koelectra_cookbook.data.labels import infer_labels, label_ids, labels_from_indicator_columns, parse_label_list, \
    scores
from koelectra_cookbook.data.preflight import same_file
from koelectra_cookbook.data.readers import detect_format, read_table
from koelectra_cookbook.data.row_lines import RowLines
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.files.values import normalize_label


@dataclass
class RawFile:
    path: Path
    texts: list[str]
    label_values: list  # a label per row, or a tuple of labels per row (multi-label)
    lines: RowLines  # the line each row of the file starts on
    kept: np.ndarray  # the file's rows that were kept (rows with an empty text are dropped)
    pairs: list[str] | None = None

    def line(self, row: int) -> int:
        """The physical line of kept row `row` (found only when a message needs it)."""
        return int(self.lines[self.kept[row]])

    def without(self, dropped: np.ndarray) -> "RawFile":
        """These rows less those `dropped` (a boolean mask), lines still those of the file."""
        keep = np.flatnonzero(~dropped)
        return RawFile(self.path, [self.texts[i] for i in keep], [self.label_values[i] for i in keep], self.lines,
                        self.kept[keep], None if self.pairs is None else [self.pairs[i] for i in keep])


@dataclass
class Sources:
    """The task's rows as read: the training files joined into one (`train`, with `train_labels`), the dev file
    if any, the evaluation file, and the label set."""

    train: RawFile
    train_labels: np.ndarray
    dev: RawFile | None
    eval: RawFile
    label_values: list[str]  # the labels as the files write them, in id order ([] for regression)
    label_names: list[str]
    regression: bool
    labels_of: Callable[[RawFile], np.ndarray]  # a file's label ids (multi-hot rows, scores) in this label set
    train_file_names: list[str]  # the training file each row of `train` comes from (its name)


def read_sources(config: Config, writes: bool, notes: list[str]) -> Sources:
    """Read and check every file (or split) the config names; `notes` gets what was dropped or is odd."""
    data = config.data
    spec = task_spec(config.task)
    data_dir = Path(data.dir)
    feature_labels = None  # the label names a dataset's ClassLabel feature gives, in its own order
    if data.dataset:
        train_raw, train_split = read_hub_split(data.dataset_train_split, "data.dataset_train_split", config, notes)
        train_parts = [train_raw]
        dev_raw = read_hub_split(data.dataset_dev_split, "data.dataset_dev_split", config, notes)[0] \
            if data.dataset_dev_split else None
        eval_raw = read_hub_split(data.dataset_eval_split, "data.dataset_eval_split", config, notes)[0]
        if data.dataset_eval_split == data.dataset_train_split:
            notes.append(f"the evaluation split is the training split ({data.dataset_eval_split}): its metrics are "
                         f"not held out")
        feature_labels = checked_feature_labels(train_split, data, config.train.task_type == "regression")
    else:
        if not data.train_file or not data.eval_file:
            raise UserError(f"config: data.train_file and data.eval_file must name files in data.dir ({data.dir})")

        def read(file_name: str) -> RawFile:
            return read_labelled(ensure_file(data_dir, file_name, spec, data.download and writes), config, notes)

        train_parts = [read(name) for name in data.train_files()]
        dev_raw = read(data.dev_file) if data.dev_file else None
        eval_raw = read(data.eval_file)
        train_raw = train_parts[0]
        if any(same_file(eval_raw.path, part.path) for part in train_parts):  # links and hard links too
            notes.append(f"the evaluation file is the training file ({eval_raw.path.name}): its metrics are not "
                         f"held out")

    if data.exclude:
        train_parts = without_excluded(train_parts, Path(data.exclude), notes)
        train_raw = train_parts[0]
    regression = config.train.task_type == "regression"
    label_values = feature_labels or data.labels or data.label_columns or ([] if regression else infer_labels(
        [value for part in train_parts for value in part.label_values], train_raw.path))
    label_names = ["score"] if regression else (data.label_names or label_values)
    if data.multi_label:  # predictions.csv has a column per label beside these
        clash = next((name for name in label_names if name in OUTPUT_COLUMNS), None)
        if clash is not None:
            raise UserError(f"config: a multi-label label may not be called {clash!r} (predictions.csv has a column "
                            f"of that name); rename it with data.label_names")

    def labels_of(raw: RawFile) -> np.ndarray:
        return scores(raw) if regression else label_ids(raw, label_values)

    train_labels = np.concatenate([labels_of(part) for part in train_parts])
    train_raw = joined(train_parts) if len(train_parts) > 1 else train_raw
    file_names = [part.path.name for part in train_parts for _ in part.texts]
    return Sources(train_raw, train_labels, dev_raw, eval_raw, list(label_values), list(label_names), regression,
                   labels_of, file_names)


def without_excluded(parts: list[RawFile], source: Path, notes: list[str]) -> list[RawFile]:
    """The training files less the rows data.exclude names (data/exclude.py), counted in a note."""
    exclusions = read_exclusions(source)
    check_every_file_named(exclusions, [part.path.name for part in parts], source)
    masks = [excluded_rows(part, exclusions, source) for part in parts]
    if all(mask.all() for mask in masks):
        raise UserError(f"config: data.exclude {source} names every training row")
    notes.append(f"train: {sum(int(mask.sum()) for mask in masks)} rows excluded (data.exclude: {source.name})")
    return [part.without(mask) for part, mask in zip(parts, masks)]


def joined(parts: list[RawFile]) -> RawFile:
    """Several training files as one (their labels are checked file by file, where lines still mean something)."""
    texts = [text for part in parts for text in part.texts]
    pairs = None if parts[0].pairs is None else [pair for part in parts for pair in part.pairs]
    return RawFile(parts[0].path, texts, [v for part in parts for v in part.label_values],
                    RowLines(lambda: np.concatenate([np.asarray(part.lines[part.kept]) for part in parts])),
                    np.arange(len(texts)), pairs)


# Text that is empty to a reader: whitespace, and the invisible format characters (zero-width spaces and joiners,
# word joiners, BOMs) that str.strip() keeps.
_BLANK = r"[\s\u200b-\u200f\u2060-\u2064\ufeff]*"


def read_labelled(path: Path, config: Config, notes: list[str]) -> RawFile:
    data = config.data
    label_columns = data.label_columns or [data.label_column]
    pair_column = data.text_pair_column
    table, lines = read_table(path, detect_format(path, data.format),
                              [data.text_column, *([pair_column] if pair_column else []), *label_columns],
                              data.encoding, text_columns=(data.text_column, *([pair_column] if pair_column else [])),
                              list_column=data.label_column if data.multi_label and not data.label_columns else None,
                              quoting=data.quoting)
    return labelled_rows(path, table, lines, config, notes)


def read_hub_split(split: str, option: str, config: Config, notes: list[str]) -> tuple[RawFile, HubSplit]:
    """A split of data.dataset as the rows of a file: a row's "line" is its 1-based row number in the split."""
    data = config.data
    columns = [data.text_column, *([data.text_pair_column] if data.text_pair_column else []), data.label_column]
    found = read_split(data, split, option, columns, data.label_column)
    lines = RowLines(lambda: np.arange(1, len(found.table) + 1))
    return labelled_rows(Path(found.name), found.table, lines, config, notes), found


def labelled_rows(path: Path, table, lines: RowLines, config: Config, notes: list[str]) -> RawFile:
    """The rows of a table read from `path` (a file, or a dataset's split): texts kept, empty ones dropped and
    counted, labels as values."""
    data = config.data
    pair_column = data.text_pair_column
    texts = table[data.text_column].str.strip()
    empty = texts.str.fullmatch(_BLANK).to_numpy()
    pairs = None
    if pair_column:  # a pair missing either text is dropped and counted, as an empty text is
        pairs = table[pair_column].str.strip()
        empty = empty | pairs.str.fullmatch(_BLANK).to_numpy()
    what = "an empty text" if pair_column else "empty text"
    if empty.all():
        raise UserError(f"{path}: every row has {'an empty text' if pair_column else 'an empty'} "
                        f"{data.text_column!r}{f' or {pair_column!r}' if pair_column else ''}")
    kept = np.flatnonzero(~empty)
    if empty.any():
        dropped = lines[np.flatnonzero(empty)[:5]].tolist()
        count = int(empty.sum())
        rows, lines_word = ("row", "line") if count == 1 else ("rows", "lines")
        notes.append(f"{path.name}: {count} {rows} with {what} dropped ({lines_word} "
                     f"{', '.join(map(str, dropped))}{', ...' if count > 5 else ''})")
        table, texts = table[~empty], texts[~empty]
        pairs = pairs[~empty] if pairs is not None else None
    spanning = texts.str.contains("\n", regex=False).to_numpy()
    if spanning.any():  # legal in CSV, but in a TSV usually a stray quote that swallowed the rows after it
        notes.append(f"{path.name}: {int(spanning.sum())} texts run over several lines, the first at line "
                     f"{lines[kept[np.flatnonzero(spanning)[0]]]} (a quoted field; check for a stray quote)")
    raw = RawFile(path, texts.tolist(), [], lines, kept, None if pairs is None else pairs.tolist())
    if config.train.task_type == "regression":
        raw.label_values = [str(value).strip() for value in table[data.label_column]]
        return raw
    if data.label_columns:
        raw.label_values = labels_from_indicator_columns(raw, table, data.label_columns)
    elif data.multi_label:
        raw.label_values = [parse_label_list(raw, row, value) for row, value in enumerate(table[data.label_column])]
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
