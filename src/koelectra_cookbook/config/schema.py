"""Typed configuration: YAML -> dataclasses (validated) -> the objects that use them.

A config is built in layers, each overriding the one before:
    dataclass defaults  <-  the task's data defaults (config/tasks.py)  <-  the YAML file  <-  --set key=value
Every layer is checked against the dataclasses, so a typo anywhere is an error naming the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from koelectra_cookbook.config.knobs import knob, require
from koelectra_cookbook.config.parsing import merge_checked, to_dataclass
from koelectra_cookbook.config.recipe import PretrainConfig, TrainConfig
from koelectra_cookbook.files.values import normalize_label


TASK_NAME = re.compile(r"[\w.-]{1,100}")

# data.long_text: how a text longer than model.max_seq_len is read (data/long_text.py), and how the windows of one
# document become its prediction.
LONG_TEXT_MODES = ("truncate", "head_tail", "windows")
LONG_TEXT_COMBINES = ("mean", "max")



@dataclass
class ModelConfig:
    """Which pretrained encoder to fine-tune, and how long its inputs may be."""

    name_or_path: str = knob("monologg/koelectra-base-v3-discriminator",
                             "a Hub model id or a local checkpoint folder (any encoder with a classification head)")
    max_seq_len: int = knob(128, "longest input in tokens; longer texts are cut")
    attn_implementation: str = knob("sdpa", "sdpa (PyTorch's fused attention kernels) or eager (the reference)")
    # Expert level.
    freeze_embeddings: bool = knob(False, "expert: keep the embeddings as pretrained")
    freeze_layers: int = knob(0, "expert: freeze the N lowest encoder layers")
    add_tokens: list[str] | None = knob(None, "expert: new vocabulary entries (KoELECTRA's [unused*] slots first)")
    # Check the base model's and the dataset's licenses before choosing one.
    license: str | None = knob(None, "the fine-tuned model's license for its card (a Hub id such as apache-2.0)")

    def validate(self) -> None:
        require(self.license is None or re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", self.license) is not None,
                 "model.license", "must be a license id such as apache-2.0 (lowercase letters, digits, . + -)",
                 self.license)
        require(self.freeze_layers >= 0, "model.freeze_layers", "must be at least 0", self.freeze_layers)
        require(self.max_seq_len >= 8, "model.max_seq_len", "must be at least 8", self.max_seq_len)
        require(self.attn_implementation in ("sdpa", "eager"), "model.attn_implementation",
                 "must be sdpa or eager", self.attn_implementation)
        for token in self.add_tokens or []:
            # Tokenizers split text at whitespace and drop invisible characters before matching added tokens:
            # a token made of them can never match (and the Rust tokenizer panics on some).
            require(token.strip() != "" and not any(unicodedata.category(c)[0] in "CZ" for c in token),
                     "model.add_tokens", "must be visible text without spaces or invisible characters", token)


@dataclass
class DataConfig:
    """Where the data lives, how its files are laid out, and how much of it to use."""

    dir: str = knob("", "the folder holding the data files")
    download: bool = knob(True, "fetch a built-in task's files into data.dir when they are missing")
    train_file: str | list[str] = knob("", "the training file in data.dir, or a list of files read as one")
    dev_file: str | None = knob("", "a dev file in data.dir to choose on; \"\" or null = a split held out from training")
    eval_file: str = knob("", "the evaluation file in data.dir: only reported on, never chosen on")
    source: str = knob("files", "files (data.dir) or hub: a built-in task's twin on the Hugging Face Hub "
                                "(klue/klue ynat for ynat) read through `datasets`")
    dataset: str = knob("", "a Hugging Face dataset id (klue/klue) or a local folder laid out as one, read through "
                            "`datasets` instead of files; \"\" = the files above")
    dataset_config: str | None = knob(None, "data.dataset's configuration (ynat); null = its only one")
    dataset_revision: str | None = knob(None, "data.dataset's branch, tag or commit; null = the main branch")
    dataset_train_split: str = knob("train", "data.dataset's split to train on")
    dataset_dev_split: str = knob("", "data.dataset's split to choose on; \"\" = data.dev_split held out from "
                                      "train")
    dataset_eval_split: str = knob("validation", "data.dataset's split to report on")
    format: str | None = knob(None, "csv, tsv, json, jsonl, or txt (pretraining); null = from the extension")
    quoting: bool = knob(True, "csv/tsv: false reads a quote as a plain character (KorNLI, KorSTS hold stray ones)")
    text_column: str = knob("text", "the column (or JSON field; a.b for a nested one) holding the text")
    # A column of its own rather than a list in text_column: predict.py, the page and pipeline() all name the
    # second text (`text_pair`), and a single-text config stays what it was.
    text_pair_column: str | None = knob(None, "sentence pairs: the column of the second text; null = one text")
    label_column: str = knob("label", "the column holding the label (a list of names with data.multi_label)")
    label_columns: list[str] | None = knob(None, "multi-label: one 0/1 column per label")
    multi_label: bool = knob(False, "multi-label: label_column holds a JSON list or a|b of names per row")
    labels: list[str] | None = knob(None, "the label values in label-id order; null = sorted values of train")
    label_names: list[str] | None = knob(None, "readable names for data.labels (same order), saved with the model")
    encoding: str = knob("utf-8", "the data files' text encoding")
    dev_split: float = knob(0.1, "share of the training file held out to choose on; 0 = none")
    max_train_samples: int | None = knob(None, "use at most this many training rows (seeded sample); null = all")
    exclude: str | None = knob(None, "a CSV of training rows to leave out (columns file, line, text: audit.py's "
                                     "files, cut down to the rows confirmed wrong); null = none")
    max_eval_samples: int | None = knob(None, "use at most this many evaluation rows (seeded sample); null = all")
    cache_dir: str = knob("data/cache", "where token ids are cached between runs")
    # Longer texts than model.max_seq_len (data/long_text.py); each run says how many there are and what is cut.
    long_text: str = knob("truncate", "a text longer than max_seq_len: truncate (its start), head_tail (its start "
                                      "and end) or windows (all of it; one prediction per text)")
    head_tokens: int | None = knob(None, "head_tail: tokens kept from the start, the rest from the end; null = a "
                                         "quarter")
    window_overlap: int | None = knob(None, "windows: tokens each window shares with the one before; null = a "
                                            "quarter of the window")
    windows_per_document: int | None = knob(None, "windows: a text's windows trained on per epoch (drawn anew each "
                                                  "epoch); null = all")
    window_combine: str | None = knob(None, "windows: mean or max of the windows' logits; null = mean (max for "
                                            "multi-label)")

    def train_files(self) -> list[str]:
        return list(self.train_file) if isinstance(self.train_file, list) else [self.train_file]

    def validate(self) -> None:
        if self.dev_file is None:  # YAML's word for "none": no dev file, as "" says (a built-in task's dropped)
            self.dev_file = ""
        require(0 <= self.dev_split < 1, "data.dev_split", "must be in [0, 1)", self.dev_split)
        require(self.source in ("files", "hub"), "data.source", "must be files or hub", self.source)
        require(isinstance(self.train_file, str) or (len(self.train_file) >= 1 and all(
            isinstance(name, str) and name for name in self.train_file)), "data.train_file",
            "must name a file or a non-empty list of files", self.train_file)
        require(self.cache_dir.strip() != "", "data.cache_dir", "must name a folder", self.cache_dir)
        for key in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, key)
            require(value is None or value >= 1, f"data.{key}", "must be at least 1 (or null for all)", value)
        require(self.format in (None, "csv", "tsv", "json", "jsonl", "txt"), "data.format",
                 "must be csv, tsv, json, jsonl, txt (pretraining's plain text) or null", self.format)
        # Names are compared in NFC, however the YAML file composes their Hangul.
        self.text_column, self.label_column = (unicodedata.normalize("NFC", c) for c in (self.text_column,
                                                                                         self.label_column))
        if self.text_pair_column is not None:
            self.text_pair_column = unicodedata.normalize("NFC", self.text_pair_column)
            require(self.text_pair_column not in (self.text_column, *(self.label_columns or [self.label_column])),
                     "data.text_pair_column", "must differ from the text and label columns", self.text_pair_column)
        for key in ("label_columns", "label_names"):
            names = getattr(self, key)
            if names is not None:
                names = [unicodedata.normalize("NFC", name.strip()) for name in names]
                setattr(self, key, names)
                require(len(set(names)) == len(names) and "" not in names, f"data.{key}",
                         "must be distinct, non-empty names", names)
        label_columns = self.label_columns or [self.label_column]
        require(self.text_column not in label_columns, "data.text_column",
                 "must differ from the label column(s)", self.text_column)
        if self.label_columns:
            self.multi_label = True
            require(self.labels is None or self.labels == self.label_columns, "data.labels",
                     "must be left out when data.label_columns names the labels", self.labels)
        if self.labels is not None:
            self.labels = [normalize_label(v) for v in self.labels]
            require(len(set(self.labels)) == len(self.labels) and len(self.labels) >= 2, "data.labels",
                     "must list at least 2 distinct values", self.labels)
        if self.label_names is not None:
            require(self.labels is not None and len(self.label_names) == len(self.labels), "data.label_names",
                     "needs data.labels and must have one name per label", self.label_names)
        require(self.long_text in LONG_TEXT_MODES, "data.long_text", f"must be {', '.join(LONG_TEXT_MODES)}",
                 self.long_text)
        require(self.window_combine in (None, *LONG_TEXT_COMBINES), "data.window_combine",
                 "must be mean, max or null", self.window_combine)
        for key in ("head_tokens", "window_overlap"):
            require(getattr(self, key) is None or getattr(self, key) >= 0, f"data.{key}", "must be at least 0 or null",
                     getattr(self, key))
        require(self.windows_per_document is None or self.windows_per_document >= 1, "data.windows_per_document",
                 "must be at least 1 or null", self.windows_per_document)
        require(self.long_text == "truncate" or self.text_pair_column is None, "data.long_text",
                 "must be truncate for sentence pairs (head_tail and windows read one text)", self.long_text)

    def check_long_text(self, max_seq_len: int) -> None:
        """The long-text sizes against the window, counting the two special tokens ELECTRA puts around a text
        ([CLS], [SEP]; data/long_text.py checks again with the tokenizer's own count). Whatever the mode: the
        settings are saved with the model, and predict.py --long-text may read with another mode."""
        room = max_seq_len - 2
        if self.head_tokens is not None:
            require(self.head_tokens <= room, "data.head_tokens", f"must be at most {room} (model.max_seq_len "
                     f"{max_seq_len} less [CLS] and [SEP])", self.head_tokens)
        if self.window_overlap is not None:
            require(self.window_overlap < room, "data.window_overlap", f"must be less than the window's {room} "
                     f"text tokens (model.max_seq_len {max_seq_len} less [CLS] and [SEP]), or no window moves on",
                     self.window_overlap)


@dataclass
class Config:
    """The whole run: which task, which model, which data, which recipe."""

    task: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- building a Config from layers -------------------------------------------------------------------

def build_config(layers: list[tuple[str, dict[str, Any]]]) -> Config:
    """Merge (source name, nested dict) layers over the defaults, check every key and type, validate."""
    merged: dict[str, Any] = {}
    for source, layer in layers:
        merge_checked(merged, layer, Config, prefix="", source=source)
    config = to_dataclass(Config, merged)
    if config.task:
        check_task_name(config.task)
    for section in (config.model, config.data, config.train, config.pretrain):
        section.validate()
    config.data.check_long_text(config.model.max_seq_len)
    return config


def check_task_name(task: str) -> None:
    """A task names the folder its runs go to (<output-dir>/<task>/), so it must be a name, never a path."""
    require(bool(TASK_NAME.fullmatch(task)) and task not in (".", ".."), "task",
             "must be a name of letters, digits, '_', '-' and '.' (it names the folder of its runs)", task)
