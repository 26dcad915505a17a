"""EarlyStopping, BestCheckpoint and RunningLoss, driven by plain lists of numbers."""

import math

import pytest
import torch

from koelectra_cookbook.trainers.state import BestCheckpoint, EarlyStopping


def drive(stopper: EarlyStopping, values: list[float]) -> int | None:
    """Feed values one evaluation at a time; return the evaluation (1-based) at which it says stop."""
    for number, value in enumerate(values, start=1):
        stopper.update(value)
        if stopper.should_stop:
            return number
    return None


def test_stops_after_patience_evaluations_without_improvement():
    assert drive(EarlyStopping("accuracy", patience=2), [0.5, 0.6, 0.6, 0.59, 0.7]) == 4
    assert drive(EarlyStopping("accuracy", patience=3), [0.5, 0.6, 0.6, 0.59, 0.7, 0.6, 0.6, 0.6]) == 8


def test_loss_like_metrics_are_minimised():
    stopper = EarlyStopping("loss", patience=1)
    assert stopper.update(1.0) and stopper.update(0.9)
    assert not stopper.update(0.95) and stopper.should_stop
    assert EarlyStopping("hamming_loss", patience=1).minimize


def test_improvement_must_exceed_min_delta():
    stopper = EarlyStopping("accuracy", patience=2, min_delta=0.01)
    assert stopper.update(0.80)
    assert not stopper.update(0.81)  # +0.01 is not more than min_delta
    assert stopper.update(0.8101 + 0.01)
    assert drive(EarlyStopping("accuracy", patience=2, min_delta=0.05), [0.5, 0.54, 0.53]) == 3
    assert drive(EarlyStopping("accuracy", patience=2, min_delta=0.05), [0.5, 0.54, 0.56, 0.6, 0.6]) == 5


def test_patience_none_never_stops_and_nan_never_improves():
    assert drive(EarlyStopping("accuracy", patience=None), [0.9] + [0.1] * 50) is None
    stopper = EarlyStopping("loss", patience=5)
    stopper.update(1.0)
    assert not stopper.update(math.nan) and stopper.best == 1.0


def test_state_dict_round_trip_continues_the_count():
    first = EarlyStopping("accuracy", patience=3)
    for value in (0.5, 0.4, 0.4):
        first.update(value)
    second = EarlyStopping("accuracy", patience=3)
    second.load_state_dict(first.state_dict())
    second.update(0.3)
    assert second.should_stop and second.best == 0.5


def test_best_checkpoint_remembers_the_best_evaluation():
    best = BestCheckpoint("loss")
    assert [best.update(value, step) for step, value in enumerate([0.9, 0.5, 0.7, math.nan], start=1)] == \
        [True, True, False, False]
    assert (best.best, best.best_step) == (0.5, 2)
    restored = BestCheckpoint("loss")
    restored.load_state_dict(best.state_dict())
    assert restored.state_dict() == {"best": 0.5, "best_step": 2}


def test_pruning_spares_the_best_checkpoint_and_its_weights_are_exported(tmp_path):
    from accelerate import Accelerator

    from koelectra_cookbook.runs.checkpoints import CheckpointManager

    accelerator, model = Accelerator(cpu=True), torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    manager = CheckpointManager(tmp_path, keep=2)
    for step, fill in ((1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)):
        with torch.no_grad():
            model.weight.fill_(fill)
        manager.save(accelerator, step, model, optimizer, {}, keep_step=2)
    assert [p.name for p in manager.candidates()] == ["step-00000004", "step-00000003", "step-00000002"]
    manager.load_weights(2, model)
    assert model.weight.flatten().tolist() == [2.0, 2.0]


@pytest.mark.parametrize("metric,minimize", [("accuracy", False), ("macro_f1", False), ("loss", True)])
def test_direction_comes_from_the_metric_name(metric, minimize):
    assert EarlyStopping(metric, 1).minimize is minimize


def test_running_loss_is_the_mean_since_the_last_report_and_refuses_a_loss_that_is_not_finite():
    from koelectra_cookbook.errors import UserError
    from koelectra_cookbook.trainers.state import RunningLoss

    running = RunningLoss(torch.device("cpu"))
    assert running.mean(step=0) is None
    for value in (1.0, 2.0, 3.0):
        running.add(torch.tensor(value))
    assert running.mean(step=3, reset=False) == 2.0
    restored = RunningLoss(torch.device("cpu"))
    restored.load_state_dict(running.state_dict(), step=3)
    assert restored.mean(step=4) == 2.0 and restored.batches == 0
    restored.check_finite(step=5)  # nothing since the last report: nothing to refuse
    restored.add(torch.tensor(float("nan")))
    with pytest.raises(UserError, match=r"became nan by step 6 \(after the last report at step 4\)"):
        restored.check_finite(step=6)
