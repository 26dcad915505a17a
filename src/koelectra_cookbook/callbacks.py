"""Small pieces of training state the trainers compose. Each has state_dict()/load_state_dict(), so a
resumed run carries on exactly where it stopped."""

from __future__ import annotations

import math

from .metrics import is_minimized


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
