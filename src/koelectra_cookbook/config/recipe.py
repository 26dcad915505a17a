"""The recipe sections of a config: `train:` (how every script trains) and `pretrain:` (what pretrain.py adds)."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass

import numpy as np

from koelectra_cookbook.classifier.names import LOSS_NAMES
from koelectra_cookbook.config.knobs import knob, require
from koelectra_cookbook.errors import UserError

# Experiment trackers Accelerate can log to, and the package each needs.
TRACKER_PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}

# pretrain.objective: what continued pretraining teaches (pretraining/replaced_tokens.py, pretraining/masked_lm.py)
OBJECTIVES = ("replaced_tokens", "masked_lm")


@dataclass
class TrainConfig:
    """The training recipe. Keys a level does not use are ignored by it (see each trainer's docstring)."""

    epochs: int = knob(3, "passes over the training data")
    max_steps: int | None = knob(None, "stop after this many optimizer steps, or when train.epochs end if that is sooner")
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
    # Temperature scaling (quality/calibration.py): the saved model's probabilities; its predictions stay the same.
    calibration: bool = knob(True, "fit a temperature on the dev split after training, kept only if it lowers "
                                   "the dev ECE (one per label for multi-label); false = the raw probabilities")
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
        require(self.epochs >= 1, "train.epochs", "must be at least 1", self.epochs)
        require(self.task_type in ("classification", "regression"), "train.task_type",
                 "must be classification or regression", self.task_type)
        require(self.binary_threshold is None or (self.task_type == "regression"
                                                   and math.isfinite(self.binary_threshold)),
                 "train.binary_threshold", "is a finite number for regression tasks only", self.binary_threshold)
        require(self.max_steps is None or self.max_steps >= 1, "train.max_steps", "must be at least 1 or null",
                 self.max_steps)
        require(self.batch_size >= 1, "train.batch_size", "must be at least 1", self.batch_size)
        require(self.eval_batch_size is None or self.eval_batch_size >= 1, "train.eval_batch_size",
                 "must be at least 1 or null", self.eval_batch_size)
        require(self.learning_rate > 0, "train.learning_rate", "must be greater than 0", self.learning_rate)
        require(self.weight_decay >= 0, "train.weight_decay", "must be at least 0", self.weight_decay)
        require(0 <= self.seed < 2**32, "train.seed", "must be in 0..4294967295 (numpy's seed range)", self.seed)
        for tracker in self.report_to or []:
            package = TRACKER_PACKAGES.get(tracker)
            require(package is not None, "train.report_to", f"must list trackers among {', '.join(TRACKER_PACKAGES)}",
                     self.report_to)
            if importlib.util.find_spec(package) is None:
                raise UserError(f"config: train.report_to: {tracker} is not installed; pip install {package}")
        require(self.nan_policy in ("stop", "skip_batch"), "train.nan_policy", "must be stop or skip_batch",
                 self.nan_policy)
        require(self.log_every >= 1, "train.log_every", "must be at least 1", self.log_every)
        require(self.num_threads == "auto" or (type(self.num_threads) is int and 1 <= self.num_threads <= 1024),
                 "train.num_threads", "must be auto or a number of threads from 1 to 1024", self.num_threads)
        require(self.eval_every is None or self.eval_every >= 1, "train.eval_every", "must be at least 1 or null",
                 self.eval_every)
        require(self.es_patience is None or self.es_patience >= 1, "train.es_patience",
                 "must be at least 1 or null", self.es_patience)
        require(self.es_min_delta >= 0, "train.es_min_delta", "must be at least 0", self.es_min_delta)
        require(self.save_total_limit >= 1, "train.save_total_limit", "must be at least 1", self.save_total_limit)
        require(self.lr_schedule in ("linear", "constant"), "train.lr_schedule", "must be linear or constant",
                 self.lr_schedule)
        require(0 <= self.warmup_ratio < 1, "train.warmup_ratio", "must be in [0, 1)", self.warmup_ratio)
        require(self.warmup_steps is None or self.warmup_steps >= 0, "train.warmup_steps",
                 "must be at least 0 or null", self.warmup_steps)
        require(self.gradient_accumulation_steps >= 1, "train.gradient_accumulation_steps", "must be at least 1",
                 self.gradient_accumulation_steps)
        require(self.max_grad_norm is None or self.max_grad_norm >= 0, "train.max_grad_norm",
                 "must be at least 0 or null", self.max_grad_norm)
        require(self.mixed_precision in ("no", "fp16", "bf16"), "train.mixed_precision", "must be no, fp16 or bf16",
                 self.mixed_precision)
        require(0 < self.layerwise_lr_decay <= 1, "train.layerwise_lr_decay", "must be in (0, 1]",
                 self.layerwise_lr_decay)
        require(self.loss is None or self.loss in LOSS_NAMES, "train.loss", f"must be one of {', '.join(LOSS_NAMES)}",
                 self.loss)
        require(self.focal_gamma >= 0, "train.focal_gamma", "must be at least 0", self.focal_gamma)
        require(0 <= self.label_smoothing < 1, "train.label_smoothing", "must be in [0, 1)", self.label_smoothing)
        require(not isinstance(self.class_weights, str) or self.class_weights == "balanced", "train.class_weights",
                 "must be balanced, a list of one weight per label, or null", self.class_weights)
        for key in ("class_weights", "pos_weight"):  # float32 on the device: 1e-320 would become 0 there
            weights = getattr(self, key)
            require(not isinstance(weights, list) or all(float(np.float32(w)) > 0 for w in weights),
                     f"train.{key}", "must all be greater than 0", weights)
        require(not isinstance(self.pos_weight, str) or self.pos_weight == "balanced", "train.pos_weight",
                 "must be balanced, a list of one weight per label, or null", self.pos_weight)
        require(self.threshold is None or 0 < self.threshold < 1, "train.threshold", "must be in (0, 1) or null",
                 self.threshold)
        if self.warmup_steps is not None and self.max_steps is not None:
            require(self.warmup_steps < self.max_steps, "train.warmup_steps", "must be shorter than train.max_steps",
                     self.warmup_steps)


@dataclass
class PretrainConfig:
    """pretrain.py: continued pretraining (the fine-tuning scripts ignore it)."""

    objective: str = knob("replaced_tokens", "pretraining: replaced_tokens (ELECTRA's), or masked_lm (BERT's; any encoder)")
    generator: str | None = knob(None, "pretraining: a generator checkpoint; null = one built at generator_size")
    generator_size: float = knob(0.25, "pretraining: a built generator's width, a fraction of the discriminator's")
    mask_prob: float = knob(0.15, "pretraining: the share of tokens masked for the generator to fill")
    discriminator_weight: float = knob(50.0, "pretraining: the discriminator loss's weight beside the generator's")
    documents: str = knob("lines", "pretraining: a text file's documents: lines, or paragraphs (blank-line separated)")

    def validate(self) -> None:
        require(self.objective in OBJECTIVES, "pretrain.objective", f"must be one of {', '.join(OBJECTIVES)}",
                self.objective)
        require(0 < self.generator_size <= 1, "pretrain.generator_size", "must be in (0, 1]", self.generator_size)
        require(0 < self.mask_prob < 1, "pretrain.mask_prob", "must be in (0, 1)", self.mask_prob)
        require(self.discriminator_weight > 0, "pretrain.discriminator_weight", "must be greater than 0",
                 self.discriminator_weight)
        require(self.documents in ("lines", "paragraphs"), "pretrain.documents", "must be lines or paragraphs",
                 self.documents)
