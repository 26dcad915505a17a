"""Typed configuration: YAML -> dataclasses (validated) -> the objects that use them.

A config is built in layers, each overriding the one before:
    dataclass defaults  <-  the task's data defaults (config/tasks.py)  <-  the YAML file  <-  --set key=value
Every layer is checked against the dataclasses, so a typo anywhere is an error naming the nearest valid key.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from koelectra_cookbook.classifier.names import LOSS_NAMES
from koelectra_cookbook.config.parsing import merge_checked, to_dataclass
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.files.values import normalize_label


TASK_NAME = re.compile(r"[\w.-]{1,100}")

def knob(default: Any, help: str) -> Any:
    """A config key's default and its one-line help (`--help-config` and docs/reference/config.md show it)."""
    return field(default=default, metadata={"help": help})


# data.long_text: how a text longer than model.max_seq_len is read (data/long_text.py), and how the windows of one
# document become its prediction.
LONG_TEXT_MODES = ("truncate", "head_tail", "windows")
LONG_TEXT_COMBINES = ("mean", "max")

# Experiment trackers Accelerate can log to, and the package each needs.
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}


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
        _require(self.license is None or re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", self.license) is not None,
                 "model.license", "must be a license id such as apache-2.0 (lowercase letters, digits, . + -)",
                 self.license)
        _require(self.freeze_layers >= 0, "model.freeze_layers", "must be at least 0", self.freeze_layers)
        _require(self.max_seq_len >= 8, "model.max_seq_len", "must be at least 8", self.max_seq_len)
        _require(self.attn_implementation in ("sdpa", "eager"), "model.attn_implementation",
                 "must be sdpa or eager", self.attn_implementation)
        for token in self.add_tokens or []:
            # Tokenizers split text at whitespace and drop invisible characters before matching added tokens:
            # a token made of them can never match (and the Rust tokenizer panics on some).
            _require(token.strip() != "" and not any(unicodedata.category(c)[0] in "CZ" for c in token),
                     "model.add_tokens", "must be visible text without spaces or invisible characters", token)


@dataclass
class DataConfig:
    """Where the data lives, how its files are laid out, and how much of it to use."""

    dir: str = knob("", "the folder holding the data files")
    download: bool = knob(True, "fetch a built-in task's files into data.dir when they are missing")
    train_file: str | list[str] = knob("", "the training file in data.dir, or a list of files read as one")
    dev_file: str | None = knob("", "a dev file in data.dir to choose on; \"\" or null = a split held out from training")
    eval_file: str = knob("", "the evaluation file in data.dir: only reported on, never chosen on")
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
        _require(0 <= self.dev_split < 1, "data.dev_split", "must be in [0, 1)", self.dev_split)
        _require(isinstance(self.train_file, str) or (len(self.train_file) >= 1 and all(
            isinstance(name, str) and name for name in self.train_file)), "data.train_file",
            "must name a file or a non-empty list of files", self.train_file)
        _require(self.cache_dir.strip() != "", "data.cache_dir", "must name a folder", self.cache_dir)
        for key in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, key)
            _require(value is None or value >= 1, f"data.{key}", "must be at least 1 (or null for all)", value)
        _require(self.format in (None, "csv", "tsv", "json", "jsonl", "txt"), "data.format",
                 "must be csv, tsv, json, jsonl, txt (pretraining's plain text) or null", self.format)
        # Names are compared in NFC, however the YAML file composes their Hangul.
        self.text_column, self.label_column = (unicodedata.normalize("NFC", c) for c in (self.text_column,
                                                                                         self.label_column))
        if self.text_pair_column is not None:
            self.text_pair_column = unicodedata.normalize("NFC", self.text_pair_column)
            _require(self.text_pair_column not in (self.text_column, *(self.label_columns or [self.label_column])),
                     "data.text_pair_column", "must differ from the text and label columns", self.text_pair_column)
        for key in ("label_columns", "label_names"):
            names = getattr(self, key)
            if names is not None:
                names = [unicodedata.normalize("NFC", name.strip()) for name in names]
                setattr(self, key, names)
                _require(len(set(names)) == len(names) and "" not in names, f"data.{key}",
                         "must be distinct, non-empty names", names)
        label_columns = self.label_columns or [self.label_column]
        _require(self.text_column not in label_columns, "data.text_column",
                 "must differ from the label column(s)", self.text_column)
        if self.label_columns:
            self.multi_label = True
            _require(self.labels is None or self.labels == self.label_columns, "data.labels",
                     "must be left out when data.label_columns names the labels", self.labels)
        if self.labels is not None:
            self.labels = [normalize_label(v) for v in self.labels]
            _require(len(set(self.labels)) == len(self.labels) and len(self.labels) >= 2, "data.labels",
                     "must list at least 2 distinct values", self.labels)
        if self.label_names is not None:
            _require(self.labels is not None and len(self.label_names) == len(self.labels), "data.label_names",
                     "needs data.labels and must have one name per label", self.label_names)
        _require(self.long_text in LONG_TEXT_MODES, "data.long_text", f"must be {', '.join(LONG_TEXT_MODES)}",
                 self.long_text)
        _require(self.window_combine in (None, *LONG_TEXT_COMBINES), "data.window_combine",
                 "must be mean, max or null", self.window_combine)
        for key in ("head_tokens", "window_overlap"):
            _require(getattr(self, key) is None or getattr(self, key) >= 0, f"data.{key}", "must be at least 0 or null",
                     getattr(self, key))
        _require(self.windows_per_document is None or self.windows_per_document >= 1, "data.windows_per_document",
                 "must be at least 1 or null", self.windows_per_document)
        _require(self.long_text == "truncate" or self.text_pair_column is None, "data.long_text",
                 "must be truncate for sentence pairs (head_tail and windows read one text)", self.long_text)

    def check_long_text(self, max_seq_len: int) -> None:
        """The long-text sizes against the window, counting the two special tokens ELECTRA puts around a text
        ([CLS], [SEP]; data/long_text.py checks again with the tokenizer's own count). Whatever the mode: the
        settings are saved with the model, and predict.py --long-text may read with another mode."""
        room = max_seq_len - 2
        if self.head_tokens is not None:
            _require(self.head_tokens <= room, "data.head_tokens", f"must be at most {room} (model.max_seq_len "
                     f"{max_seq_len} less [CLS] and [SEP])", self.head_tokens)
        if self.window_overlap is not None:
            _require(self.window_overlap < room, "data.window_overlap", f"must be less than the window's {room} "
                     f"text tokens (model.max_seq_len {max_seq_len} less [CLS] and [SEP]), or no window moves on",
                     self.window_overlap)


@dataclass
class TrainConfig:
    """The training recipe. Keys a level does not use are ignored by it (see each trainer's docstring)."""

    epochs: int = knob(3, "passes over the training data")
    max_steps: int | None = knob(None, "stop after this many optimizer steps, whatever epochs says")
    batch_size: int = knob(32, "rows per batch (per process)")
    eval_batch_size: int | None = knob(None, "rows per evaluation batch; null = 2 x batch_size (no gradients)")
    learning_rate: float = knob(5e-5, "AdamW's learning rate (the head's, with layer-wise decay)")
    weight_decay: float = knob(0.01, "AdamW's weight decay (none on biases and LayerNorm weights)")
    seed: int = knob(42, "seeds the data order, the splits, dropout and the head's initial weights")
    metrics: list[str] | None = knob(None, "metrics computed at each evaluation; null = the task's headline one")
    log_every: int = knob(50, "optimizer steps between loss lines (train_log.csv, trackers, the bar, the NaN check)")
    # "stop" is checked at each loss report and evaluation, before a checkpoint; "skip_batch" every batch, at
    # the cost of a host sync per batch.
    nan_policy: str = knob("stop", "a NaN or infinite loss: stop (keeping the last good checkpoint) or skip_batch")
    report_to: list[str] | None = knob(None, "experiment trackers: tensorboard, wandb, mlflow (installed apart)")
    # auto is looked at again during training; OMP_NUM_THREADS, when set, wins over auto.
    num_threads: int | str = knob("auto", "CPU threads for torch: auto (the cores others leave free) or a number")
    task_type: str = knob("classification", "classification, or regression: one number per row (MSE, pearson)")
    binary_threshold: float | None = knob(None, "regression: binary_f1 compares score >= this (KLUE-STS: 3.0)")
    # Intermediate level and up.
    eval_every: int | None = knob(None, "intermediate: steps between dev evaluations; null = once per epoch")
    evaluate_during_training: bool = knob(True, "intermediate: evaluate on the dev split while training")
    es_metric: str | None = knob(None, "intermediate: the metric that picks the best model; null = headline")
    es_patience: int | None = knob(3, "intermediate: evaluations without improvement before stopping; null = never")
    es_min_delta: float = knob(0.0, "intermediate: the least change that counts as an improvement")
    save_total_limit: int = knob(2, "intermediate: checkpoints kept while training (the best one is spared too)")
    keep_checkpoints: bool = knob(False, "intermediate: keep them all when a run ends (else only newest and best)")
    # Expert level.
    lr_schedule: str = knob("linear", "expert: after the warmup, linear decay to 0 or constant")
    warmup_ratio: float = knob(0.1, "expert: share of all steps spent warming the learning rate up")
    warmup_steps: int | None = knob(None, "expert: warmup steps (wins over warmup_ratio)")
    gradient_accumulation_steps: int = knob(1, "expert: batches summed into one optimizer step")
    max_grad_norm: float | None = knob(1.0, "expert: clip the gradient norm to this; 0 or null = no clipping")
    mixed_precision: str = knob("no", "expert: no, fp16 (CUDA) or bf16")
    layerwise_lr_decay: float = knob(1.0, "expert: each layer below the head gets this factor more (1.0 = off)")
    loss: str | None = knob(None, "expert: cross_entropy, bce, focal, dice, mse or huber; null = the task's usual")
    focal_gamma: float = knob(2.0, "expert: focal loss's gamma")
    label_smoothing: float = knob(0.0, "expert: cross_entropy's label smoothing")
    class_weights: str | list[float] | None = knob(None, "expert: balanced, one weight per label, or null")
    # Multi-label.
    pos_weight: str | list[float] | None = knob(None, "multi-label: bce's weight on positives, or balanced")
    threshold: float | None = knob(None, "multi-label: one decision threshold for all labels; null = tuned on dev")

    def validate(self) -> None:
        _require(self.epochs >= 1, "train.epochs", "must be at least 1", self.epochs)
        _require(self.task_type in ("classification", "regression"), "train.task_type",
                 "must be classification or regression", self.task_type)
        _require(self.binary_threshold is None or (self.task_type == "regression"
                                                   and math.isfinite(self.binary_threshold)),
                 "train.binary_threshold", "is a finite number for regression tasks only", self.binary_threshold)
        _require(self.max_steps is None or self.max_steps >= 1, "train.max_steps", "must be at least 1 or null",
                 self.max_steps)
        _require(self.batch_size >= 1, "train.batch_size", "must be at least 1", self.batch_size)
        _require(self.eval_batch_size is None or self.eval_batch_size >= 1, "train.eval_batch_size",
                 "must be at least 1 or null", self.eval_batch_size)
        _require(self.learning_rate > 0, "train.learning_rate", "must be greater than 0", self.learning_rate)
        _require(self.weight_decay >= 0, "train.weight_decay", "must be at least 0", self.weight_decay)
        _require(0 <= self.seed < 2**32, "train.seed", "must be in 0..4294967295 (numpy's seed range)", self.seed)
        for tracker in self.report_to or []:
            package = TRACKER_PACKAGES.get(tracker)
            _require(package is not None, "train.report_to", f"must list trackers among {', '.join(TRACKER_PACKAGES)}",
                     self.report_to)
            if importlib.util.find_spec(package) is None:
                raise UserError(f"config: train.report_to: {tracker} is not installed; pip install {package}")
        _require(self.nan_policy in ("stop", "skip_batch"), "train.nan_policy", "must be stop or skip_batch",
                 self.nan_policy)
        _require(self.log_every >= 1, "train.log_every", "must be at least 1", self.log_every)
        _require(self.num_threads == "auto" or (type(self.num_threads) is int and 1 <= self.num_threads <= 1024),
                 "train.num_threads", "must be auto or a number of threads from 1 to 1024", self.num_threads)
        _require(self.eval_every is None or self.eval_every >= 1, "train.eval_every", "must be at least 1 or null",
                 self.eval_every)
        _require(self.es_patience is None or self.es_patience >= 1, "train.es_patience",
                 "must be at least 1 or null", self.es_patience)
        _require(self.es_min_delta >= 0, "train.es_min_delta", "must be at least 0", self.es_min_delta)
        _require(self.save_total_limit >= 1, "train.save_total_limit", "must be at least 1", self.save_total_limit)
        _require(self.lr_schedule in ("linear", "constant"), "train.lr_schedule", "must be linear or constant",
                 self.lr_schedule)
        _require(0 <= self.warmup_ratio < 1, "train.warmup_ratio", "must be in [0, 1)", self.warmup_ratio)
        _require(self.warmup_steps is None or self.warmup_steps >= 0, "train.warmup_steps",
                 "must be at least 0 or null", self.warmup_steps)
        _require(self.gradient_accumulation_steps >= 1, "train.gradient_accumulation_steps", "must be at least 1",
                 self.gradient_accumulation_steps)
        _require(self.max_grad_norm is None or self.max_grad_norm >= 0, "train.max_grad_norm",
                 "must be at least 0 or null", self.max_grad_norm)
        _require(self.mixed_precision in ("no", "fp16", "bf16"), "train.mixed_precision", "must be no, fp16 or bf16",
                 self.mixed_precision)
        _require(0 < self.layerwise_lr_decay <= 1, "train.layerwise_lr_decay", "must be in (0, 1]",
                 self.layerwise_lr_decay)
        _require(self.loss is None or self.loss in LOSS_NAMES, "train.loss", f"must be one of {', '.join(LOSS_NAMES)}",
                 self.loss)
        _require(self.focal_gamma >= 0, "train.focal_gamma", "must be at least 0", self.focal_gamma)
        _require(0 <= self.label_smoothing < 1, "train.label_smoothing", "must be in [0, 1)", self.label_smoothing)
        _require(not isinstance(self.class_weights, str) or self.class_weights == "balanced", "train.class_weights",
                 "must be balanced, a list of one weight per label, or null", self.class_weights)
        for key in ("class_weights", "pos_weight"):  # float32 on the device: 1e-320 would become 0 there
            weights = getattr(self, key)
            _require(not isinstance(weights, list) or all(float(np.float32(w)) > 0 for w in weights),
                     f"train.{key}", "must all be greater than 0", weights)
        _require(not isinstance(self.pos_weight, str) or self.pos_weight == "balanced", "train.pos_weight",
                 "must be balanced, a list of one weight per label, or null", self.pos_weight)
        _require(self.threshold is None or 0 < self.threshold < 1, "train.threshold", "must be in (0, 1) or null",
                 self.threshold)
        if self.warmup_steps is not None and self.max_steps is not None:
            _require(self.warmup_steps < self.max_steps, "train.warmup_steps", "must be shorter than train.max_steps",
                     self.warmup_steps)


@dataclass
class PretrainConfig:
    """pretrain.py: continued pretraining with ELECTRA's replaced-token detection (the fine-tuning scripts ignore it)."""

    generator: str | None = knob(None, "pretraining: a generator checkpoint; null = one built at generator_size")
    generator_size: float = knob(0.25, "pretraining: a built generator's width, a fraction of the discriminator's")
    mask_prob: float = knob(0.15, "pretraining: the share of tokens masked for the generator to fill")
    discriminator_weight: float = knob(50.0, "pretraining: the discriminator loss's weight beside the generator's")
    documents: str = knob("lines", "pretraining: a text file's documents: lines, or paragraphs (blank-line separated)")

    def validate(self) -> None:
        _require(0 < self.generator_size <= 1, "pretrain.generator_size", "must be in (0, 1]", self.generator_size)
        _require(0 < self.mask_prob < 1, "pretrain.mask_prob", "must be in (0, 1)", self.mask_prob)
        _require(self.discriminator_weight > 0, "pretrain.discriminator_weight", "must be greater than 0",
                 self.discriminator_weight)
        _require(self.documents in ("lines", "paragraphs"), "pretrain.documents", "must be lines or paragraphs",
                 self.documents)


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


def _require(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise UserError(f"config: {key} {rule} (got {shown(value, 120)})")


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
    _require(bool(TASK_NAME.fullmatch(task)) and task not in (".", ".."), "task",
             "must be a name of letters, digits, '_', '-' and '.' (it names the folder of its runs)", task)
