"""The trainer levels as a script must know them before it imports one (the trainers import torch, which takes
seconds): where each lives, which script runs it, whether it resumes, which data and loss it trains. A test checks
these facts against the trainer classes themselves."""

from __future__ import annotations

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
]}


def check_level(level: Level, config: Config) -> None:
    """Whether `level` can train `config`, before anything is loaded: multi-label data goes to
    train_multi_label.py, single-label data to the other scripts, and train.loss (with its options) must fit the
    task (bce is for multi-label data, cross_entropy for single-label data, label smoothing for cross_entropy)."""
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
