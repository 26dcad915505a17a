"""Losses against torch's own implementations and against arithmetic written out by hand."""

import math

import pytest
import torch
import torch.nn.functional as F

from koelectra_cookbook.classifier.losses import build_loss
from koelectra_cookbook.classifier.names import LOSS_NAMES

LN3 = math.log(3.0)
# softmax([ln 3, 0]) = [0.75, 0.25], softmax([0, 0]) = [0.5, 0.5]; sigmoid(ln 3) = 0.75, sigmoid(0) = 0.5.
SINGLE_LOGITS = torch.tensor([[LN3, 0.0], [0.0, 0.0]])
SINGLE_TARGETS = torch.tensor([0, 1])
MULTI_LOGITS = torch.tensor([[0.0, LN3], [LN3, 0.0]])
MULTI_TARGETS = torch.tensor([[1.0, 0.0], [1.0, 1.0]])


def random_batch(multi_label: bool, seed: int = 0, batch: int = 6, num_labels: int = 4):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, num_labels, generator=generator) * 3
    if multi_label:
        targets = (torch.rand(batch, num_labels, generator=generator) < 0.4).float()
    else:
        targets = torch.randint(0, num_labels, (batch,), generator=generator)
    return logits, targets


def test_loss_names():
    assert LOSS_NAMES == ("cross_entropy", "bce", "focal", "dice", "mse", "huber")


@pytest.mark.parametrize("seed", range(3))
def test_focal_with_gamma_zero_is_cross_entropy(seed):
    logits, targets = random_batch(multi_label=False, seed=seed)
    focal = build_loss("focal", num_labels=4, multi_label=False, focal_gamma=0.0)
    torch.testing.assert_close(focal(logits, targets), F.cross_entropy(logits, targets))


@pytest.mark.parametrize("seed", range(3))
def test_focal_with_gamma_zero_is_bce(seed):
    logits, targets = random_batch(multi_label=True, seed=seed)
    focal = build_loss("focal", num_labels=4, multi_label=True, focal_gamma=0.0)
    torch.testing.assert_close(focal(logits, targets), F.binary_cross_entropy_with_logits(logits, targets))


def test_focal_class_weights_scale_each_row_and_divide_by_batch_size():
    logits, targets = random_batch(multi_label=False, seed=3)
    weights = torch.tensor([1.0, 2.0, 0.5, 3.0])
    focal = build_loss("focal", num_labels=4, multi_label=False, focal_gamma=0.0, class_weights=weights)
    per_row = F.cross_entropy(logits, targets, reduction="none")
    torch.testing.assert_close(focal(logits, targets), (weights[targets] * per_row).mean())


def test_softmax_focal_by_hand():
    # Row 0: gold class 0, p_t = 0.75 -> -(0.25)^2 * ln 0.75.  Row 1: gold class 1, p_t = 0.5 -> -(0.5)^2 * ln 0.5.
    expected = (-(0.25**2) * math.log(0.75) - (0.5**2) * math.log(0.5)) / 2
    focal = build_loss("focal", num_labels=2, multi_label=False, focal_gamma=2.0)
    assert focal(SINGLE_LOGITS, SINGLE_TARGETS).item() == pytest.approx(expected, rel=1e-6)


def test_sigmoid_focal_by_hand():
    # p = [[0.5, 0.75], [0.75, 0.5]], y = [[1, 0], [1, 1]] -> p_t = [[0.5, 0.25], [0.75, 0.5]].
    # Each element is -(1 - p_t)^2 * ln p_t; the loss is the mean of the four.
    elements = [
        -(0.5**2) * math.log(0.5),
        -(0.75**2) * math.log(0.25),
        -(0.25**2) * math.log(0.75),
        -(0.5**2) * math.log(0.5),
    ]
    focal = build_loss("focal", num_labels=2, multi_label=True, focal_gamma=2.0)
    assert focal(MULTI_LOGITS, MULTI_TARGETS).item() == pytest.approx(sum(elements) / 4, rel=1e-6)


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_focal_gradients_stay_finite_for_confident_predictions(multi_label, gamma):
    # A margin of 40 makes p_t round to exactly 1 in float32, where (1 - p_t)^0.5 has an infinite slope.
    logits = torch.tensor([[40.0, -40.0], [-40.0, 40.0]], requires_grad=True)
    targets = torch.eye(2) if multi_label else torch.tensor([0, 1])
    loss = build_loss("focal", num_labels=2, multi_label=multi_label, focal_gamma=gamma)(logits, targets)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_softmax_dice_by_hand():
    # p = [[0.75, 0.25], [0.5, 0.5]], one-hot y = [[1, 0], [0, 1]], smoothing 1.
    # Class 0: sum(p*y) = 0.75, sum(p) = 1.25, sum(y) = 1 -> dice = (1.5 + 1) / (2.25 + 1).
    # Class 1: sum(p*y) = 0.5,  sum(p) = 0.75, sum(y) = 1 -> dice = (1.0 + 1) / (1.75 + 1).
    expected = ((1 - 2.5 / 3.25) + (1 - 2.0 / 2.75)) / 2
    dice = build_loss("dice", num_labels=2, multi_label=False)
    assert dice(SINGLE_LOGITS, SINGLE_TARGETS).item() == pytest.approx(expected, rel=1e-6)


def test_sigmoid_dice_by_hand():
    # p = [[0.5, 0.75], [0.75, 0.5]], y = [[1, 0], [1, 1]], smoothing 1.
    # Label 0: sum(p*y) = 1.25, sum(p) = 1.25, sum(y) = 2 -> dice = (2.5 + 1) / (3.25 + 1).
    # Label 1: sum(p*y) = 0.5,  sum(p) = 1.25, sum(y) = 1 -> dice = (1.0 + 1) / (2.25 + 1).
    expected = ((1 - 3.5 / 4.25) + (1 - 2.0 / 3.25)) / 2
    dice = build_loss("dice", num_labels=2, multi_label=True)
    assert dice(MULTI_LOGITS, MULTI_TARGETS).item() == pytest.approx(expected, rel=1e-6)


def test_dice_of_a_class_absent_from_the_batch_is_finite():
    logits = torch.tensor([[2.0, -1.0, 0.0], [1.0, 0.0, -2.0]], requires_grad=True)
    loss = build_loss("dice", num_labels=3, multi_label=False)(logits, torch.tensor([0, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_cross_entropy_label_smoothing_and_weights_match_torch(smoothing):
    logits, targets = random_batch(multi_label=False, seed=4)
    weights = torch.tensor([0.5, 1.0, 2.0, 1.5])
    plain = build_loss("cross_entropy", num_labels=4, multi_label=False, label_smoothing=smoothing)
    torch.testing.assert_close(plain(logits, targets), F.cross_entropy(logits, targets, label_smoothing=smoothing))
    weighted = build_loss(
        "cross_entropy", num_labels=4, multi_label=False, label_smoothing=smoothing, class_weights=weights
    )
    reference = F.cross_entropy(logits, targets, weight=weights, label_smoothing=smoothing)
    torch.testing.assert_close(weighted(logits, targets), reference)


def test_bce_pos_weight_matches_torch():
    logits, targets = random_batch(multi_label=True, seed=5)
    pos_weight = torch.tensor([1.0, 3.0, 0.5, 2.0])
    bce = build_loss("bce", num_labels=4, multi_label=True, pos_weight=pos_weight)
    reference = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    torch.testing.assert_close(bce(logits, targets), reference(logits, targets))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    "name, multi_label",
    [("cross_entropy", False), ("bce", True), ("focal", False), ("focal", True), ("dice", False), ("dice", True)],
)
def test_half_precision_logits_give_a_float32_loss(name, multi_label, dtype):
    logits, targets = random_batch(multi_label=multi_label, seed=6)
    half_logits = logits.to(dtype).requires_grad_()
    loss = build_loss(name, num_labels=4, multi_label=multi_label)(half_logits, targets)
    assert loss.dtype == torch.float32
    # Same value as float32 logits that went through the same rounding.
    full = build_loss(name, num_labels=4, multi_label=multi_label)(half_logits.detach().float(), targets)
    torch.testing.assert_close(loss, full)
    loss.backward()
    assert half_logits.grad.dtype == dtype and torch.isfinite(half_logits.grad.float()).all()


@pytest.mark.parametrize(
    "name, multi_label, weights",
    [("cross_entropy", False, "class_weights"), ("focal", False, "class_weights"), ("bce", True, "pos_weight")],
)
def test_weights_are_float32_buffers_that_survive_a_half_precision_cast(name, multi_label, weights):
    logits, targets = random_batch(multi_label=multi_label, seed=7)
    loss = build_loss(name, num_labels=4, multi_label=multi_label, **{weights: torch.tensor([1, 2, 3, 4])})
    assert dict(loss.named_buffers())[weights].dtype == torch.float32  # integer weights are stored as float
    assert loss.state_dict() == {}  # kept out of the checkpoints of a model that holds the loss
    expected = loss(logits, targets)
    loss.to(torch.bfloat16)  # what model.to(bfloat16) does to a loss attached to the model
    assert dict(loss.named_buffers())[weights].dtype == torch.bfloat16
    torch.testing.assert_close(loss(logits, targets), expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="hinge", multi_label=False), "valid choices are: cross_entropy, bce, focal, dice, mse, huber"),
        (dict(name="mse", multi_label=False), "does not support single-label tasks; choose one of: cross_entropy"),
        (dict(name="cross_entropy", multi_label=False, regression=True), "choose one of: mse, huber"),
        (dict(name="cross_entropy", multi_label=True), "choose one of: bce, focal, dice"),
        (dict(name="bce", multi_label=False), "choose one of: cross_entropy, focal, dice"),
        (dict(name="focal", multi_label=False, label_smoothing=0.1), "label_smoothing"),
        (dict(name="cross_entropy", multi_label=False, label_smoothing=1.0), r"\[0, 1\)"),
        (dict(name="focal", multi_label=False, focal_gamma=-1.0), "focal_gamma"),
        (dict(name="dice", multi_label=False, class_weights=torch.ones(3)), "class_weights"),
        (dict(name="focal", multi_label=True, class_weights=torch.ones(3)), "class_weights"),
        (dict(name="focal", multi_label=True, pos_weight=torch.ones(3)), "pos_weight"),
        (dict(name="cross_entropy", multi_label=False, class_weights=torch.ones(2)), r"shape \(3,\)"),
        (dict(name="bce", multi_label=True, pos_weight=torch.ones(4)), r"shape \(3,\)"),
    ],
)
def test_invalid_configurations_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_loss(num_labels=3, **kwargs)


@pytest.mark.parametrize("name, multi_label", [("cross_entropy", False), ("focal", True), ("dice", False)])
def test_loss_under_bf16_autocast_is_float32(name, multi_label):
    _, targets = random_batch(multi_label=multi_label, seed=8)
    layer = torch.nn.Linear(8, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = layer(torch.randn(6, 8))
        loss = build_loss(name, num_labels=4, multi_label=multi_label)(logits, targets)
    assert logits.dtype == torch.bfloat16 and loss.dtype == torch.float32


def test_regression_losses_are_torchs_on_the_one_output():
    predicted, scores = torch.tensor([[0.5], [2.0], [4.5]]), torch.tensor([1.0, 2.0, 2.0])
    mse = build_loss("mse", num_labels=1, multi_label=False, regression=True)
    huber = build_loss("huber", num_labels=1, multi_label=False, regression=True)
    torch.testing.assert_close(mse(predicted, scores), torch.nn.functional.mse_loss(predicted[:, 0], scores))
    torch.testing.assert_close(huber(predicted, scores), torch.nn.functional.huber_loss(predicted[:, 0], scores))
    assert huber(predicted, scores) < mse(predicted, scores)  # the far-off 4.5 weighs linearly, not squared
