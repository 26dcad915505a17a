"""The trainer levels as a script must know them before it imports one (the trainers import torch, which takes
seconds): where each lives, which script runs it, whether it resumes, which data and loss it trains. A test checks
these facts against the trainer classes themselves."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from koelectra_cookbook.classifier.names import loss_problem
from koelectra_cookbook.config.schema import Config
from koelectra_cookbook.errors import UserError


@dataclass(frozen=True)
class Level:
    name: str
    trainer: str  # "module:Class", imported once the config is checked
    script: str
    resumable: bool  # keeps checkpoints; --resume continues it
    multi_label: bool
    loss: str | None  # the loss when train.loss is null; None: the level ignores train.loss (cross entropy)


LEVELS = {level.name: level for level in [
    Level("beginner", "koelectra_cookbook.trainers.beginner:BeginnerTrainer", "train_beginner.py", False, False, None),
    Level("intermediate", "koelectra_cookbook.trainers.intermediate:IntermediateTrainer", "train_intermediate.py",
          True, False, None),
    Level("expert", "koelectra_cookbook.trainers.expert:ExpertTrainer", "train_expert.py", True, False,
          "cross_entropy"),
    Level("multi-label", "koelectra_cookbook.trainers.multi_label:MultiLabelTrainer", "train_multi_label.py", True,
          True, "bce"),
    # continued pretraining over the same loop (a level above the expert's): its texts' labels are never read
    Level("pretraining", "koelectra_cookbook.trainers.pretraining:PretrainingTrainer", "pretrain.py", True, False,
          None),
]}


# The config keys each level adds to those of the level below it, as the trainers' docstrings list them (a test
# checks that the two agree). A key the user sets that the level running does not use is named when the run starts.
ADDED_KEYS = {
    "beginner": ("train.epochs", "train.max_steps", "train.batch_size", "train.eval_batch_size",
                 "train.learning_rate", "train.weight_decay", "train.seed", "train.metrics", "train.log_every",
                 "train.nan_policy", "train.report_to", "train.num_threads", "train.task_type",
                 "train.binary_threshold", "train.calibration"),
    "intermediate": ("train.eval_every", "train.evaluate_during_training", "train.es_metric", "train.es_patience",
                     "train.es_min_delta", "train.save_total_limit", "train.keep_checkpoints"),
    "expert": ("train.lr_schedule", "train.warmup_ratio", "train.warmup_steps", "train.gradient_accumulation_steps",
               "train.max_grad_norm", "train.mixed_precision", "train.layerwise_lr_decay", "train.loss",
               "train.focal_gamma", "train.label_smoothing", "train.class_weights", "model.freeze_embeddings",
               "model.freeze_layers", "model.add_tokens"),
    "multi-label": ("train.pos_weight", "train.threshold"),
    "pretraining": ("pretrain.objective", "pretrain.generator", "pretrain.generator_size", "pretrain.mask_prob",
                    "pretrain.discriminator_weight", "pretrain.documents"),
}
LADDER = list(ADDED_KEYS)
PARENT = {"intermediate": "beginner", "expert": "intermediate", "multi-label": "expert", "pretraining": "expert"}


def lineage(name: str) -> list[str]:
    """The level and every level it is a subclass of, lowest first."""
    return [*lineage(PARENT[name]), name] if name in PARENT else [name]


def unused_settings(level: Level, keys_set: list[str]) -> str | None:
    """A note naming the keys of `keys_set` (those the user set: their YAML file, --set, the Trainer-style flags)
    that `level` does not use, and the script that does; None when it uses them all."""
    used = {key for name in lineage(level.name) for key in ADDED_KEYS[name]}
    if level.name == "pretraining":  # its objective (pretrain.objective) has its own loss, not a classification one
        used -= {"train.loss", "train.focal_gamma", "train.label_smoothing", "train.class_weights"}
    ladder_keys = {key for keys in ADDED_KEYS.values() for key in keys}
    unused = [key for key in keys_set if key in ladder_keys and key not in used]
    if not unused:
        return None
    owners = {key: next(name for name in LADDER if key in ADDED_KEYS[name]) for key in unused}
    scripts = sorted({LEVELS[owners[key]].script for key in unused}, key=lambda script: LADDER.index(
        next(name for name in LADDER if LEVELS[name].script == script)))
    if level.name == "pretraining":
        scripts = [script for script in scripts if script != level.script] or ["the fine-tuning scripts"]
    return (f"note: {level.script} does not use {', '.join(unused)} (set, but ignored at the {level.name} "
            f"level); {' or '.join(scripts)} uses {'it' if len(unused) == 1 else 'them'}")


def check_level(level: Level, config: Config) -> None:
    """Whether `level` can train `config`, before anything is loaded: multi-label data goes to
    train_multi_label.py, single-label data to the other scripts, and train.loss (with its options) must fit the
    task (bce is for multi-label data, cross_entropy for single-label data, label smoothing for cross_entropy)."""
    if level.name == "pretraining":  # unlabelled text: no labels, no classification loss to check
        # the expert's settings for a classifier's layers: the whole encoder adapts, at one learning rate
        for key, unset in (("model.add_tokens", not config.model.add_tokens),
                           ("model.freeze_layers", not config.model.freeze_layers),
                           ("train.layerwise_lr_decay", config.train.layerwise_lr_decay == 1.0)):
            if not unset:
                raise UserError(f"config: {key} is not supported by pretrain.py yet; leave it out")
        return
    if config.data.multi_label and not level.multi_label:
        raise UserError(f"task {config.task!r} is multi-label: run train_multi_label.py")
    if level.multi_label and not config.data.multi_label:
        raise UserError(f"task {config.task!r} is single-label: run train_expert.py (or set data.label_columns / "
                        f"data.multi_label for multi-label data)")
    regression = config.train.task_type == "regression"
    if regression and level.multi_label:
        raise UserError("config: train.task_type regression gives one score per row: run train_expert.py")
    if level.loss is not None:
        train = config.train
        problem = loss_problem(train.loss or ("mse" if regression else level.loss), config.data.multi_label,
                               label_smoothing=train.label_smoothing, class_weights=train.class_weights is not None,
                               pos_weight=train.pos_weight is not None, regression=regression)
        if problem:
            raise UserError(f"config: train.loss: {problem}")


def import_trainer(level: Level) -> type:
    """The level's trainer class: torch, transformers and accelerate load here, after every check that can fail
    without them."""
    module, name = level.trainer.split(":")
    return getattr(importlib.import_module(module), name)
