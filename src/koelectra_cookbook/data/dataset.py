"""Rows read and validated -> labels mapped to ids (or scores) -> train/dev/eval splits -> token ids, encoded once
and cached. A row is one text or, with data.text_pair_column, a sentence pair. A text longer than the model's
window becomes one row cut as data.long_text says, or several (windows: long_text.py); a split stays a list of
documents, and the dev split is drawn by document, never by window.

The evaluation file is only ever reported on. Choices during training (best checkpoint, early stopping) use
data.dev_file where a dataset has one (KorSTS, KorNLI), else a dev split held out from the training file,
because NSMC and YNAT publish no labelled dev set beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from koelectra_cookbook.classifier.names import OUTPUT_COLUMNS
from koelectra_cookbook.config.schema import Config, DataConfig
from koelectra_cookbook.data.long_text import LongText, check_settings, cut_report, describe_cut, document_rows, \
    special_tokens
from koelectra_cookbook.data.token_cache import check_cache_dir, encode_documents, encode_rows
from koelectra_cookbook.files.values import normalize_label
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.data.download import ensure_file
from koelectra_cookbook.data.preflight import same_file
from koelectra_cookbook.data.labels import (check_scores_vary, infer_labels, label_ids, labels_from_indicator_columns,
                                            parse_label_list, scores)
from koelectra_cookbook.data.hub import HubSplit, checked_feature_labels, described, read_split
from koelectra_cookbook.data.readers import detect_format, read_table
from koelectra_cookbook.data.row_lines import RowLines
from koelectra_cookbook.config.tasks import task_spec


# Fewer dev rows than this and one row moves a metric by over 2%: choosing checkpoints on it follows noise.
SMALL_DEV_SPLIT = 50


@dataclass
class Split:
    """One set of documents: the texts and their label ids (in file order), and the token ids of the rows the
    model reads: a row per document, or with windows (`starts`) document d's rows at starts[d]:starts[d + 1]."""

    name: str
    texts: list[str]
    labels: np.ndarray  # class ids, multi-hot rows, or float scores (regression)
    token_ids: list[np.ndarray]
    pairs: list[str] | None = None  # the second texts of sentence pairs
    first_lengths: np.ndarray | None = None  # pairs: tokens of [CLS] a [SEP], where token_type_ids turn 1
    starts: np.ndarray | None = None  # windows: where each document's rows begin (len(texts) + 1 offsets)
    text_lengths: np.ndarray | None = None  # each document's tokens, whole (what data.long_text reports on)

    def __len__(self) -> int:
        return len(self.texts)

    def lengths(self) -> np.ndarray:
        """Tokens of each row the model reads."""
        return np.fromiter((len(ids) for ids in self.token_ids), dtype=np.int64, count=len(self.token_ids))

    def subset(self, documents: np.ndarray, name: str | None = None) -> "Split":
        """These documents (with all their rows)."""
        rows, starts = documents, None
        if self.starts is not None:
            counts = np.diff(self.starts)[documents]
            starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            rows = (np.concatenate([np.arange(self.starts[d], self.starts[d + 1]) for d in documents])
                    if len(documents) else np.zeros(0, dtype=np.int64))
        return Split(name or self.name, [self.texts[i] for i in documents], self.labels[documents],
                     [self.token_ids[i] for i in rows],
                     None if self.pairs is None else [self.pairs[i] for i in documents],
                     None if self.first_lengths is None else self.first_lengths[rows], starts,
                     None if self.text_lengths is None else self.text_lengths[documents])


@dataclass
class TaskData:
    """Everything the trainer needs from the data side."""

    train: Split
    dev: Split | None
    eval: Split
    label_names: list[str]
    notes: list[str]  # what was dropped or cut, for the console and the run directory
    long_text: LongText | None = None  # how texts longer than max_seq_len were read
    cut: dict | None = None  # per split, how many texts were longer and how many tokens dropped (results.json)
    special_tokens: tuple[list[str], list[str]] = ([], [])  # the tokens put before and after a text (the card)
    label_values: list[str] | None = None  # the labels as the files write them, in id order (names may differ)


@dataclass
class _RawFile:
    path: Path
    texts: list[str]
    label_values: list  # a label per row, or a tuple of labels per row (multi-label)
    lines: RowLines  # the line each row of the file starts on
    kept: np.ndarray  # the file's rows that were kept (rows with an empty text are dropped)
    pairs: list[str] | None = None

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
    feature_labels = None  # the label names a dataset's ClassLabel feature gives, in its own order
    if data.dataset:
        train_raw, train_split = _read_hub_split(data.dataset_train_split, "data.dataset_train_split", config, notes)
        train_parts = [train_raw]
        dev_raw = _read_hub_split(data.dataset_dev_split, "data.dataset_dev_split", config, notes)[0] \
            if data.dataset_dev_split else None
        eval_raw = _read_hub_split(data.dataset_eval_split, "data.dataset_eval_split", config, notes)[0]
        if data.dataset_eval_split == data.dataset_train_split:
            notes.append(f"the evaluation split is the training split ({data.dataset_eval_split}): its metrics are "
                         f"not held out")
        feature_labels = checked_feature_labels(train_split, data, config.train.task_type == "regression")
    else:
        if not data.train_file or not data.eval_file:
            raise UserError(f"config: data.train_file and data.eval_file must name files in data.dir ({data.dir})")

        def read(file_name: str) -> _RawFile:
            return _read_labelled(ensure_file(data_dir, file_name, spec, data.download and writes), config, notes)

        train_parts = [read(name) for name in data.train_files()]
        dev_raw = read(data.dev_file) if data.dev_file else None
        eval_raw = read(data.eval_file)
        train_raw = train_parts[0]
        if any(same_file(eval_raw.path, part.path) for part in train_parts):  # links and hard links too
            notes.append(f"the evaluation file is the training file ({eval_raw.path.name}): its metrics are not "
                         f"held out")

    regression = config.train.task_type == "regression"
    label_values = feature_labels or data.labels or data.label_columns or ([] if regression else infer_labels(
        [value for part in train_parts for value in part.label_values], train_raw.path))
    label_names = ["score"] if regression else (data.label_names or label_values)
    if data.multi_label:  # predictions.csv has a column per label beside these
        clash = next((name for name in label_names if name in OUTPUT_COLUMNS), None)
        if clash is not None:
            raise UserError(f"config: a multi-label label may not be called {clash!r} (predictions.csv has a column "
                            f"of that name); rename it with data.label_names")

    def labels_of(raw: _RawFile) -> np.ndarray:
        return scores(raw) if regression else label_ids(raw, label_values)

    train_labels = np.concatenate([labels_of(part) for part in train_parts])
    train_raw = _joined(train_parts) if len(train_parts) > 1 else train_raw
    # Choose rows first, then tokenize only the rows that will be used.
    split_dev = dev_raw is None
    train_rows, dev_rows, eval_rows = _choose_rows(len(train_raw.texts), len(eval_raw.texts), data,
                                                   config.train.seed, notes, split_dev)
    encoder = _Encoder(config, tokenizer, writes)
    train_all = encoder.split("train", train_raw, train_labels, np.concatenate([train_rows, dev_rows]))
    train_all, in_train = _without_empty_documents(train_all, len(train_rows), notes)
    train = train_all.subset(np.arange(in_train))
    dev = train_all.subset(np.arange(in_train, len(train_all)), "dev") if len(dev_rows) else None
    if dev_raw is not None:
        dev = encoder.split("dev", dev_raw, labels_of(dev_raw), np.arange(len(dev_raw.texts)))
        notes.append(f"dev: {len(dev)} rows of {data.dev_file} (data.dev_file)")
    evaluation = encoder.split("eval", eval_raw, labels_of(eval_raw), eval_rows)
    if regression:
        check_scores_vary(None if dev is None else dev.labels, evaluation.labels, config.train.es_metric,
                          data.dev_file or "held out from training", notes)
    cut = {split.name: encoder.cut_report(split) for split in (train, dev, evaluation) if split is not None}
    notes.extend(describe_cut(name, cut[name], encoder.long_text) for name in ("train", "eval"))
    if cut["eval"]["no_tokens"]:
        notes.append(f"eval: {cut['eval']['no_tokens']} texts tokenize to nothing (the tokenizer drops all their "
                     f"characters): they are predicted from the special tokens alone")
    specials = tuple(tokenizer.convert_ids_to_tokens(ids) for ids in (encoder.prefix, encoder.suffix))
    return TaskData(train, dev, evaluation, list(label_names), notes, encoder.long_text, cut, specials,
                    None if regression else list(label_values))


def _without_empty_documents(split: Split, in_train: int, notes: list[str]) -> tuple[Split, int]:
    """Training documents that tokenize to nothing (only characters the tokenizer drops) teach nothing: dropped and
    counted. Returns the split and how many of its documents are still training ones (the rest are dev)."""
    empty = split.text_lengths == 0
    if not empty.any():
        return split, in_train
    if empty.all():
        raise UserError(f"data: every training text tokenizes to nothing with this model's tokenizer (it drops all "
                        f"their characters), e.g. {shown(split.texts[0], 40)}")
    example = shown(split.texts[int(np.argmax(empty))], 40)
    notes.append(f"train: {int(empty.sum())} texts that tokenize to nothing dropped (e.g. {example})")
    return split.subset(np.flatnonzero(~empty)), int((~empty[:in_train]).sum())


def _joined(parts: list[_RawFile]) -> _RawFile:
    """Several training files as one (their labels are checked file by file, where lines still mean something)."""
    texts = [text for part in parts for text in part.texts]
    pairs = None if parts[0].pairs is None else [pair for part in parts for pair in part.pairs]
    return _RawFile(parts[0].path, texts, [v for part in parts for v in part.label_values],
                    RowLines(lambda: np.concatenate([np.asarray(part.lines[part.kept]) for part in parts])),
                    np.arange(len(texts)), pairs)


def _choose_rows(train_count: int, eval_count: int, data: DataConfig, seed: int, notes: list[str],
                 split_dev: bool = True):
    """Seeded row indices (each sorted, so file order is kept) for train, the held-out dev split (none when
    `split_dev` is false: a dev file is given), and eval."""
    rng = np.random.default_rng(seed)
    train_rows = np.arange(train_count)
    if data.max_train_samples and data.max_train_samples < train_count:
        train_rows = np.sort(rng.permutation(train_count)[: data.max_train_samples])
        notes.append(f"train: using {len(train_rows)} rows (data.max_train_samples)")
    dev_rows = train_rows[:0]
    if data.dev_split > 0 and split_dev:
        dev_size = max(1, round(len(train_rows) * data.dev_split))
        if dev_size >= len(train_rows):
            raise UserError(f"config: data.dev_split {data.dev_split} leaves no training rows out of "
                            f"{len(train_rows)}")
        order = rng.permutation(len(train_rows))
        dev_rows, train_rows = np.sort(train_rows[order[:dev_size]]), np.sort(train_rows[order[dev_size:]])
        source = f"{described(data)}:{data.dataset_train_split}" if data.dataset else ", ".join(data.train_files())
        notes.append(f"dev: {len(dev_rows)} rows held out from {source} "
                     f"(data.dev_split={data.dev_split})")
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


def _read_labelled(path: Path, config: Config, notes: list[str]) -> _RawFile:
    data = config.data
    label_columns = data.label_columns or [data.label_column]
    pair_column = data.text_pair_column
    table, lines = read_table(path, detect_format(path, data.format),
                              [data.text_column, *([pair_column] if pair_column else []), *label_columns],
                              data.encoding, text_columns=(data.text_column, *([pair_column] if pair_column else [])),
                              list_column=data.label_column if data.multi_label and not data.label_columns else None,
                              quoting=data.quoting)
    return _labelled_rows(path, table, lines, config, notes)


def _read_hub_split(split: str, option: str, config: Config, notes: list[str]) -> tuple[_RawFile, HubSplit]:
    """A split of data.dataset as the rows of a file: a row's "line" is its 1-based row number in the split."""
    data = config.data
    columns = [data.text_column, *([data.text_pair_column] if data.text_pair_column else []), data.label_column]
    found = read_split(data, split, option, columns, data.label_column)
    lines = RowLines(lambda: np.arange(1, len(found.table) + 1))
    return _labelled_rows(Path(found.name), found.table, lines, config, notes), found


def _labelled_rows(path: Path, table, lines: RowLines, config: Config, notes: list[str]) -> _RawFile:
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
    raw = _RawFile(path, texts.tolist(), [], lines, kept, None if pairs is None else pairs.tolist())
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


class _Encoder:
    """Token ids of the rows of a split: one text a row is tokenized whole (cached) and cut or windowed as
    data.long_text says; sentence pairs as the tokenizer encodes them, cut to max_seq_len (their whole lengths
    are still counted, for the report)."""

    def __init__(self, config: Config, tokenizer, writes: bool):
        self.config, self.tokenizer, self.writes = config, tokenizer, writes
        self.cache_dir = Path(config.data.cache_dir)
        self.prefix, self.suffix = special_tokens(
            lambda text, add: tokenizer(text, add_special_tokens=add)["input_ids"])
        pair_model = config.data.text_pair_column is not None
        self.specials = (tokenizer.num_special_tokens_to_add(pair=True) if pair_model
                         else len(self.prefix) + len(self.suffix))
        self.long_text = LongText.from_config(config.data, config.model.max_seq_len, config.data.multi_label,
                                              self.specials)
        check_settings(self.long_text, self.specials, "config: data.long_text")

    def whole(self, texts: list[str]) -> list[np.ndarray]:
        return encode_documents(texts, self.tokenizer, self.cache_dir, write_cache=self.writes)

    def split(self, name: str, raw: _RawFile, labels: np.ndarray, rows: np.ndarray) -> Split:
        texts = [raw.texts[i] for i in rows]
        if raw.pairs is not None:
            pairs = [raw.pairs[i] for i in rows]
            token_ids, first_lengths = encode_rows(texts, pairs, self.tokenizer, self.config.model.max_seq_len,
                                                   self.cache_dir, write_cache=self.writes)
            whole = [len(a) + len(b) for a, b in zip(self.whole(texts), self.whole(pairs))]
            return Split(name, texts, labels[rows], token_ids, pairs, first_lengths,
                         text_lengths=np.asarray(whole, dtype=np.int64))
        documents = self.whole(texts)
        token_ids, starts = document_rows(documents, self.prefix, self.suffix, self.long_text)
        return Split(name, texts, labels[rows], token_ids, starts=starts,
                     text_lengths=np.fromiter(map(len, documents), dtype=np.int64, count=len(documents)))

    def cut_report(self, split: Split) -> dict:
        return cut_report(split.text_lengths, self.long_text, self.specials, len(split.token_ids))
