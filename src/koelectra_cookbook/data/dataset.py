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

from koelectra_cookbook.config.schema import Config, DataConfig
from koelectra_cookbook.data.long_text import LongText, check_settings, cut_report, describe_cut, document_rows, \
    special_tokens
from koelectra_cookbook.data.token_cache import check_cache_dir, encode_documents, encode_rows
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.data.overlap import leak_warnings
from koelectra_cookbook.data.labels import check_scores_vary
from koelectra_cookbook.data.hub import described
from koelectra_cookbook.data.raw_files import RawFile, Sources, read_sources


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


def load_task_data(config: Config, tokenizer, writes: bool = True) -> TaskData:
    """Read, validate, split and encode the task's files as the config describes them. With `writes` false
    (a resumed run, whose config may come from someone else), nothing is downloaded and the token cache is
    only read: the run writes nowhere but its own folder."""
    data = config.data
    cache_dir = Path(data.cache_dir)
    if writes:
        check_cache_dir(cache_dir)
    notes: list[str] = []
    sources = read_sources(config, writes, notes)
    train_raw, train_labels, dev_raw, eval_raw = sources.train, sources.train_labels, sources.dev, sources.eval
    regression, labels_of = sources.regression, sources.labels_of
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
    notes.extend(leak_warnings(train, dev, evaluation))
    if regression:
        check_scores_vary(None if dev is None else dev.labels, evaluation.labels, config.train.es_metric,
                          data.dev_file or "held out from training", notes)
    cut = {split.name: encoder.cut_report(split) for split in (train, dev, evaluation) if split is not None}
    notes.extend(describe_cut(name, cut[name], encoder.long_text) for name in ("train", "eval"))
    if cut["eval"]["no_tokens"]:
        notes.append(f"eval: {cut['eval']['no_tokens']} texts tokenize to nothing (the tokenizer drops all their "
                     f"characters): they are predicted from the special tokens alone")
    specials = tuple(tokenizer.convert_ids_to_tokens(ids) for ids in (encoder.prefix, encoder.suffix))
    return TaskData(train, dev, evaluation, list(sources.label_names), notes, encoder.long_text, cut, specials,
                    None if regression else list(sources.label_values))


@dataclass
class NamedRows:
    """Rows of a file named as a person finds them: the file's name and the line each row starts on."""

    files: list[str]
    lines: np.ndarray
    texts: list[str]
    pairs: list[str] | None
    labels: np.ndarray

    def subset(self, rows: np.ndarray) -> "NamedRows":
        return NamedRows([self.files[i] for i in rows], self.lines[rows], [self.texts[i] for i in rows],
                         None if self.pairs is None else [self.pairs[i] for i in rows], self.labels[rows])


def read_named_rows(config: Config) -> tuple[NamedRows, np.ndarray, NamedRows, Sources, list[str]]:
    """For audit.py: every training row (data.exclude's left out), which of them a run of this config learns
    from (data.max_train_samples's choice; its held-out dev split included), every row of the evaluation file,
    the sources they were read from (the label set) and the notes of reading them. Nothing is tokenized."""
    notes: list[str] = []
    sources = read_sources(config, True, notes)
    chosen, _, _ = _choose_rows(len(sources.train.texts), len(sources.eval.texts), config.data, config.train.seed,
                                notes, split_dev=False)

    def named(raw: RawFile, labels: np.ndarray, files: list[str]) -> NamedRows:
        return NamedRows(files, np.asarray(raw.lines[raw.kept], dtype=np.int64), raw.texts, raw.pairs, labels)

    evaluation = sources.eval
    return (named(sources.train, sources.train_labels, sources.train_file_names), chosen,
            named(evaluation, sources.labels_of(evaluation), [evaluation.path.name] * len(evaluation.texts)),
            sources, notes)


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

    def split(self, name: str, raw: RawFile, labels: np.ndarray, rows: np.ndarray) -> Split:
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
