"""Small pieces of training state the trainers compose: the running training loss, early stopping and the best
checkpoint. The trainers call them; each has state_dict()/load_state_dict() (and the fields a stored state must
have), so a checkpoint holds them and a resumed run carries on exactly where it stopped."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.classifier.names import is_minimized


class RunningLoss:
    """The mean training loss since the last evaluation (`mean`) and since the last log line (`log_mean`, every
    train.log_every steps). Summed on the device, so the loop never waits for it: reading it is the loop's only
    host sync. A loss that is not finite makes a sum not finite, which turns into the run's stop."""

    STATE_FIELDS = {"sum": (float,), "batches": (int,), "log_sum": (float,), "log_batches": (int,)}

    def __init__(self, device: torch.device, reduce: Callable[[torch.Tensor], torch.Tensor] = lambda total: total):
        """`reduce` averages the sum over the processes of a distributed run."""
        self.reduce = reduce
        self.sum = torch.zeros((), device=device)
        self.batches = 0
        self.log_sum = torch.zeros((), device=device)
        self.log_batches = 0
        self.last_report_step = 0

    def add(self, loss: torch.Tensor) -> None:
        self.sum += loss.detach()
        self.batches += 1
        self.log_sum += loss.detach()
        self.log_batches += 1

    def log_mean(self, step: int) -> float | None:
        """The mean since the last log line (across processes), or None without a batch; a user error when it
        is not finite (as check_finite's). Starts the next log window."""
        if self.log_batches == 0:
            return None
        value = float(self.reduce(self.log_sum)) / self.log_batches
        self._stop_unless_finite(value, step)
        self.last_report_step = step
        self.log_sum.zero_()
        self.log_batches = 0
        return value

    def check_finite(self, step: int) -> None:
        """A user error naming the steps between which the loss went wrong when a loss added since the last
        reset was not finite (NaN or infinite); nothing otherwise."""
        if self.batches == 0:
            return
        self._stop_unless_finite(float(self.reduce(self.sum)) / self.batches, step)

    def _stop_unless_finite(self, value: float, step: int) -> None:
        if not math.isfinite(value):
            raise UserError(f"the training loss became {value} by step {step} (after the last report at step "
                            f"{self.last_report_step}); nothing after that was saved. Lower train.learning_rate, "
                            f"set train.max_grad_norm, or set train.nan_policy: skip_batch")

    def mean(self, step: int, reset: bool = True) -> float | None:
        """The mean since the last reset (across processes), or None without a batch."""
        if self.batches == 0:
            return None
        value = float(self.reduce(self.sum)) / self.batches
        self.last_report_step = step
        if reset:
            self.sum.zero_()
            self.batches = 0
        return value

    def state_dict(self) -> dict:
        return {"sum": float(self.sum), "batches": self.batches, "log_sum": float(self.log_sum),
                "log_batches": self.log_batches}

    def load_state_dict(self, state: dict, step: int) -> None:
        """Restore the sums since the last evaluation and log line; a message about a bad loss then counts from
        `step`."""
        self.sum = torch.tensor(state["sum"], device=self.sum.device)
        self.batches = state["batches"]
        self.log_sum = torch.tensor(state["log_sum"], device=self.sum.device)
        self.log_batches = state["log_batches"]
        self.last_report_step = step


class EarlyStopping:
    """Counts evaluations without improvement and says when to stop.

    A new value improves on the best when it is better by MORE than `min_delta` (lower for metrics whose
    name ends in "loss", higher otherwise). After `patience` evaluations in a row without improvement,
    `should_stop` becomes true. `patience=None` never stops.
    """

    STATE_FIELDS = {"best": (float, type(None)), "evaluations_without_improvement": (int,)}

    def __init__(self, metric: str, patience: int | None, min_delta: float = 0.0):
        self.metric = metric
        self.patience = patience
        self.min_delta = min_delta
        self.minimize = is_minimized(metric)
        self.best: float | None = None
        self.evaluations_without_improvement = 0

    def update(self, value: float) -> bool:
        """Record one evaluation's value; returns True when it improved on the best so far."""
        if self.best is None or self._better(value, self.best):
            self.best = value
            self.evaluations_without_improvement = 0
            return True
        self.evaluations_without_improvement += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.evaluations_without_improvement >= self.patience

    def _better(self, value: float, best: float) -> bool:
        if math.isnan(value):
            return False
        return value < best - self.min_delta if self.minimize else value > best + self.min_delta

    def state_dict(self) -> dict:
        return {"best": self.best, "evaluations_without_improvement": self.evaluations_without_improvement}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.evaluations_without_improvement = state["evaluations_without_improvement"]


class BestCheckpoint:
    """Remembers which evaluation was best so far, so its checkpoint is spared from pruning and its weights
    are exported at the end instead of the last ones.

    Any improvement counts here (min_delta is early stopping's business). The weights themselves are those of
    the checkpoint saved right after that evaluation: nothing is written twice.
    """

    STATE_FIELDS = {"best": (float, type(None)), "best_step": (int, type(None))}

    def __init__(self, metric: str):
        self.metric = metric
        self.minimize = is_minimized(metric)
        self.best: float | None = None
        self.best_step: int | None = None

    def update(self, value: float, step: int) -> bool:
        """Record one evaluation; returns True when `value` beats the best so far (the new best)."""
        if math.isnan(value):
            return False
        if self.best is not None and (value >= self.best if self.minimize else value <= self.best):
            return False
        self.best, self.best_step = value, step
        return True

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_step = state["best_step"]
