"""EarlyStopping and BestCheckpoint, driven by plain lists of numbers."""

import math

import pytest
import torch

from koelectra_cookbook.callbacks import BestCheckpoint, EarlyStopping


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


def test_best_checkpoint_keeps_the_best_weights(tmp_path):
    model = torch.nn.Linear(2, 1)
    best = BestCheckpoint("loss", tmp_path)
    for step, (value, fill) in enumerate([(0.9, 1.0), (0.5, 2.0), (0.7, 3.0)], start=1):
        with torch.no_grad():
            model.weight.fill_(fill)
        best.update(value, step, model)
    assert (best.best, best.best_step) == (0.5, 2)
    assert best.restore_into(model) and model.weight.flatten().tolist() == [2.0, 2.0]
    restored = BestCheckpoint("loss", tmp_path)
    restored.load_state_dict(best.state_dict())
    assert restored.state_dict() == {"best": 0.5, "best_step": 2}
    assert not (tmp_path / "best-model.safetensors.part").exists()


def test_best_checkpoint_on_a_process_that_does_not_write(tmp_path):
    best = BestCheckpoint("accuracy", tmp_path)
    assert best.update(0.7, 10, torch.nn.Linear(2, 1), write=False)
    assert best.best_step == 10 and not best.path.exists()


@pytest.mark.parametrize("metric,minimize", [("accuracy", False), ("macro_f1", False), ("loss", True)])
def test_direction_comes_from_the_metric_name(metric, minimize):
    assert EarlyStopping(metric, 1).minimize is minimize
