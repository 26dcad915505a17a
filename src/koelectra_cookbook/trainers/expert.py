"""ExpertTrainer: the intermediate trainer plus the techniques that make fine-tuning work well.

Linear warmup then linear decay, gradient accumulation, gradient clipping, mixed precision, layer-wise
learning-rate decay, frozen layers, added tokens, and a choice of loss.

Hooks overridden: accelerator_options, prepare_tokenizer, prepare_model, create_loss (with loss_weights),
parameter_groups, accumulation_steps, create_scheduler, backward, should_step, optimizer_step.
Config keys added: train.lr_schedule, warmup_ratio, warmup_steps, gradient_accumulation_steps, max_grad_norm,
mixed_precision, layerwise_lr_decay, loss, focal_gamma, label_smoothing, class_weights;
model.freeze_embeddings, freeze_layers, add_tokens.
"""

from __future__ import annotations


import numpy as np
import torch
from sklearn.utils.class_weight import compute_class_weight
from transformers import get_scheduler

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.classifier.losses import build_loss
from koelectra_cookbook.classifier.loading import add_tokens, freeze, layer_index
from koelectra_cookbook.trainers.setup_hooks import weight_decay
from koelectra_cookbook.trainers.intermediate import IntermediateTrainer


def layer_depth(parameter_name: str, layers: int) -> int:
    """0 for the embeddings, i + 1 for encoder layer i, layers + 1 for the head and anything above."""
    if ".embeddings." in f".{parameter_name}":
        return 0
    index = layer_index(parameter_name)
    return layers + 1 if index is None else index + 1


class ExpertTrainer(IntermediateTrainer):
    """Fine-tunes with a warmup/decay schedule, accumulation, clipping, mixed precision and the seed's extras."""

    level = "expert"
    default_loss = "cross_entropy"

    def accelerator_options(self) -> dict:
        """Mixed precision (train.mixed_precision) is Accelerate's autocast and, for fp16, its grad scaler."""
        precision = self.config.train.mixed_precision
        if precision == "fp16" and not torch.cuda.is_available():
            raise UserError("config: train.mixed_precision fp16 needs a CUDA GPU; use bf16 or no on this machine")
        return {**super().accelerator_options(), "mixed_precision": precision}

    def prepare_tokenizer(self, tokenizer):
        """Add model.add_tokens to the vocabulary before any text is tokenized."""
        if self.config.model.add_tokens:
            tokenizer, _ = add_tokens(tokenizer, self.config.model.add_tokens)
        return tokenizer

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Grow the embeddings for appended tokens; freeze what model.freeze_* asks for."""
        if len(self.tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(self.tokenizer))
        settings = self.config.model
        if settings.freeze_embeddings or settings.freeze_layers:
            if settings.freeze_layers > model.config.num_hidden_layers:
                raise UserError(f"config: model.freeze_layers {settings.freeze_layers} is more than the model's "
                                f"{model.config.num_hidden_layers} layers")
            freeze(model, settings.freeze_embeddings, settings.freeze_layers)
        return model

    def create_loss(self) -> torch.nn.Module:
        """train.loss (default_loss when null) with its options and `loss_weights()`."""
        train = self.config.train
        try:
            return build_loss(train.loss or ("mse" if self.regression else self.default_loss),
                              num_labels=len(self.label_names), multi_label=self.multi_label,
                              focal_gamma=train.focal_gamma, label_smoothing=train.label_smoothing,
                              regression=self.regression, **self.loss_weights())
        except ValueError as exc:
            raise UserError(f"config: train.loss: {exc}") from None

    def loss_weights(self) -> dict:
        """Called by `create_loss`: train.class_weights, where "balanced" means inverse label frequencies
        (scikit-learn's, over the labels present in training; a label with no training row weighs 1, and
        nothing)."""
        weights = self.config.train.class_weights
        if weights == "balanced":
            present = np.unique(self.data.train.labels)
            weights = np.ones(len(self.label_names))
            weights[present] = compute_class_weight("balanced", classes=present, y=self.data.train.labels)
        return {"class_weights": None if weights is None else torch.tensor(weights, dtype=torch.float32)}

    def parameter_groups(self) -> list[dict]:
        """With train.layerwise_lr_decay d < 1, the head keeps the learning rate, the top encoder layer gets
        d times it, the one below d^2, ..., and the embeddings d^(layers + 1) (as in the ELECTRA paper)."""
        decay_rate = self.config.train.layerwise_lr_decay
        if decay_rate == 1.0:
            return super().parameter_groups()
        layers = self.model.config.num_hidden_layers
        groups: dict[tuple[float, float], list] = {}
        for name, parameter in self.model.named_parameters():
            if not parameter.requires_grad:
                continue
            depth = layer_depth(name, layers)
            learning_rate = self.config.train.learning_rate * decay_rate ** (layers + 1 - depth)
            groups.setdefault((learning_rate, weight_decay(parameter, self.config.train.weight_decay)), []).append(
                parameter)
        return [{"params": params, "lr": lr, "weight_decay": wd} for (lr, wd), params in groups.items()]

    def create_scheduler(self):
        """Linear warmup (train.warmup_steps, or warmup_ratio of all steps), then train.lr_schedule: linear decay
        to 0 at the last step, or constant. transformers' schedules, stepped once per optimizer step."""
        train = self.config.train
        warmup = train.warmup_steps if train.warmup_steps is not None else round(train.warmup_ratio * self.total_steps)
        if warmup >= self.total_steps and warmup > 0:
            raise UserError(f"config: warmup of {warmup} steps is not shorter than the {self.total_steps} training "
                            f"steps; lower train.warmup_ratio / train.warmup_steps")
        name = "linear" if train.lr_schedule == "linear" else "constant_with_warmup"
        return get_scheduler(name, self.optimizer, num_warmup_steps=warmup, num_training_steps=self.total_steps)

    def accumulation_steps(self) -> int:
        """train.gradient_accumulation_steps batches per optimizer step."""
        return self.config.train.gradient_accumulation_steps

    def accumulation_group_size(self) -> int:
        """How many batches the current optimizer step averages over (the epoch's last group may be short)."""
        every = self.accumulation_steps()
        start = (self.batch_in_epoch // every) * every
        return min(every, len(self.train_loader) - start)

    def backward(self, loss: torch.Tensor) -> None:
        """Scale each batch's loss so the accumulated gradient is the mean over the whole group."""
        super().backward(loss / self.accumulation_group_size())

    def should_step(self) -> bool:
        """Step after every `gradient_accumulation_steps` batches, and after the epoch's last batch."""
        every = self.accumulation_steps()
        return self.batch_in_epoch % every == 0 or self.batch_in_epoch == len(self.train_loader)

    def optimizer_step(self) -> None:
        """Clip the gradient norm (after unscaling, under fp16) before the update."""
        if self.config.train.max_grad_norm:  # its norm before clipping, read only when a log line needs it
            self.grad_norm = self.accelerator.clip_grad_norm_(self.model.parameters(), self.config.train.max_grad_norm)
        super().optimizer_step()
