"""Classification losses, chosen by name from a config.

Every loss takes logits of shape (batch, num_labels) and returns a scalar. Targets are
integer class ids (LongTensor, shape (batch,)) for single-label tasks and a float multi-hot
matrix (shape (batch, num_labels)) for multi-label tasks. Logits are cast to float32 first:
under fp16/bf16 autocast, softmax/log terms lose too much precision to train on.
"""

import torch
import torch.nn.functional as F
from torch import nn

from koelectra_cookbook.classifier.names import loss_problem


# Additive smoothing of the dice ratio: keeps a class that is absent from the batch (both
# sums near 0) from producing 0/0, and softens the gradient when the sums are small.
DICE_SMOOTHING = 1.0


def _focal_modulation(log_p_t: torch.Tensor, gamma: float) -> torch.Tensor:
    """(1 - p_t)^gamma from log p_t."""
    # expm1 keeps 1 - p_t accurate for confident predictions; the clamp keeps it off exactly 0,
    # where a gamma below 1 would give an infinite (then NaN) gradient.
    one_minus_p_t = (-torch.expm1(log_p_t)).clamp_min(torch.finfo(log_p_t.dtype).tiny)
    return one_minus_p_t**gamma


def _optional_buffer(module: nn.Module, name: str, values: torch.Tensor | None) -> None:
    # A buffer moves with module.to(device), so weights follow the model onto the GPU;
    # non-persistent, so a model holding the loss keeps it out of its checkpoints.
    module.register_buffer(name, None if values is None else values.detach().float(), persistent=False)


def _float_or_none(values: torch.Tensor | None) -> torch.Tensor | None:
    # Re-cast on use: module.half() or .to(bfloat16) converts buffers too, but the maths runs in float32.
    return None if values is None else values.float()


class CrossEntropy(nn.Module):
    """Softmax cross entropy: mean over the batch of -sum_c q_c * log softmax(x)_c.

    q is the one-hot target, or with label smoothing e: (1 - e) * one_hot + e / num_labels.
    With class weights w this is torch's weighted mean, sum_i w_{y_i} l_i / sum_i w_{y_i}.
    """

    def __init__(self, label_smoothing: float = 0.0, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        _optional_buffer(self, "class_weights", class_weights)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits.float(), targets, weight=_float_or_none(self.class_weights), label_smoothing=self.label_smoothing
        )


class BinaryCrossEntropy(nn.Module):
    """Per-label sigmoid cross entropy, mean over all elements:

    -[pos_weight_k * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x))],
    the same as torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight).
    """

    def __init__(self, pos_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        _optional_buffer(self, "pos_weight", pos_weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(
            logits.float(), targets.float(), pos_weight=_float_or_none(self.pos_weight)
        )


class SoftmaxFocalLoss(nn.Module):
    """Single-label focal loss, mean over the batch of -alpha_y * (1 - p_t)^gamma * log p_t.

    p_t is the softmax probability of the gold class and alpha_y its class weight (1 without
    weights). Unlike weighted cross entropy, the mean divides by the batch size, not by the
    sum of weights. With gamma = 0 and no weights it equals cross entropy.
    """

    def __init__(self, gamma: float = 2.0, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        self.gamma = gamma
        _optional_buffer(self, "class_weights", class_weights)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p_t = F.log_softmax(logits.float(), dim=-1).gather(1, targets.unsqueeze(1)).squeeze(1)
        loss = -_focal_modulation(log_p_t, self.gamma) * log_p_t
        if self.class_weights is not None:
            loss = loss * self.class_weights.float()[targets]
        return loss.mean()


class SigmoidFocalLoss(nn.Module):
    """Multi-label focal loss on each label, mean over all elements of -(1 - p_t)^gamma * log p_t.

    p = sigmoid(x) and p_t = p where y = 1, 1 - p where y = 0. With gamma = 0 it equals BCE.
    """

    def __init__(self, gamma: float = 2.0) -> None:
        super().__init__()
        self.gamma = gamma

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # -log p_t is exactly the elementwise BCE, which torch computes without overflow.
        neg_log_p_t = F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
        return (_focal_modulation(-neg_log_p_t, self.gamma) * neg_log_p_t).mean()


def _soft_dice_loss(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 - (2 * sum(p * y) + s) / (sum(p) + sum(y) + s) per column over the batch, averaged over columns."""
    overlap = (probabilities * targets).sum(dim=0)
    total = probabilities.sum(dim=0) + targets.sum(dim=0)
    dice = (2.0 * overlap + DICE_SMOOTHING) / (total + DICE_SMOOTHING)
    return (1.0 - dice).mean()


class SoftmaxDiceLoss(nn.Module):
    """Single-label soft dice loss on softmax probabilities p against one-hot targets y.

    For each class c, over the batch: 1 - (2 * sum_i p_ic * y_ic + s) / (sum_i p_ic + sum_i y_ic + s),
    then the mean over classes; s = DICE_SMOOTHING = 1.0.
    """

    def __init__(self, num_labels: int) -> None:
        super().__init__()
        self.num_labels = num_labels

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        probabilities = F.softmax(logits.float(), dim=-1)
        return _soft_dice_loss(probabilities, F.one_hot(targets, self.num_labels).float())


class SigmoidDiceLoss(nn.Module):
    """Multi-label soft dice loss: the formula of SoftmaxDiceLoss on per-label sigmoid probabilities."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return _soft_dice_loss(torch.sigmoid(logits.float()), targets.float())


class Regression(nn.Module):
    """Mean squared error (or Huber's, less swayed by a few far-off gold scores) between the one output of a
    regression head and the score."""

    def __init__(self, huber: bool = False) -> None:
        super().__init__()
        self.huber = huber

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        predicted, targets = logits.float().reshape(-1), targets.float().reshape(-1)
        if self.huber:
            return nn.functional.huber_loss(predicted, targets)
        return nn.functional.mse_loss(predicted, targets)


def _check_weights(name: str, weights: torch.Tensor | None, num_labels: int) -> None:
    if weights is not None and tuple(weights.shape) != (num_labels,):
        raise ValueError(f"{name} must have shape ({num_labels},), got {tuple(weights.shape)}")


def build_loss(
    name: str,
    *,
    num_labels: int,
    multi_label: bool,
    focal_gamma: float = 2.0,
    label_smoothing: float = 0.0,
    class_weights: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    regression: bool = False,
) -> nn.Module:
    """Build the loss called `name` (one of LOSS_NAMES) for a single- or multi-label task.

    "cross_entropy" is single-label only, "bce" multi-label only; "focal" and "dice" exist
    for both; "mse" and "huber" are the regression losses. Options a loss does not use (label_smoothing outside cross_entropy,
    class_weights outside single-label cross_entropy/focal, pos_weight outside bce) raise
    ValueError instead of being silently ignored.
    """
    problem = loss_problem(name, multi_label, label_smoothing=label_smoothing,
                           class_weights=class_weights is not None, pos_weight=pos_weight is not None,
                           regression=regression)
    if problem:
        raise ValueError(problem)
    if focal_gamma < 0:
        raise ValueError(f"focal_gamma must be >= 0, got {focal_gamma}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
    _check_weights("class_weights", class_weights, num_labels)
    _check_weights("pos_weight", pos_weight, num_labels)

    if regression:
        return Regression(huber=name == "huber")
    if name == "cross_entropy":
        return CrossEntropy(label_smoothing=label_smoothing, class_weights=class_weights)
    if name == "bce":
        return BinaryCrossEntropy(pos_weight=pos_weight)
    if name == "focal":
        return SigmoidFocalLoss(focal_gamma) if multi_label else SoftmaxFocalLoss(focal_gamma, class_weights)
    return SigmoidDiceLoss() if multi_label else SoftmaxDiceLoss(num_labels)
