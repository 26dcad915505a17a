"""Small pieces of training state the trainers compose. Each has state_dict()/load_state_dict(), so a
resumed run carries on exactly where it stopped."""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .metrics import is_minimized


class EarlyStopping:
    """Counts evaluations without improvement and says when to stop.

    A new value improves on the best when it is better by MORE than `min_delta` (lower for metrics whose
    name ends in "loss", higher otherwise). After `patience` evaluations in a row without improvement,
    `should_stop` becomes true. `patience=None` never stops.
    """

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
    """Keeps the weights of the best evaluation so far on disk, to be exported at the end instead of the last.

    Any improvement counts here (min_delta is early stopping's business). The file is written under a
    temporary name and renamed, so a crash mid-write leaves the previous best intact.
    """

    def __init__(self, metric: str, directory: Path):
        self.metric = metric
        self.minimize = is_minimized(metric)
        self.path = Path(directory) / "best-model.safetensors"
        self.best: float | None = None
        self.best_step: int | None = None

    def update(self, value: float, step: int, model: torch.nn.Module, write: bool = True) -> bool:
        """Save `model`'s weights when `value` beats the best so far; returns True when it did.
        Every process calls this so all agree on the best; only the one with `write` saves the file."""
        if math.isnan(value):
            return False
        if self.best is not None and (value >= self.best if self.minimize else value <= self.best):
            return False
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".part")
            save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(partial))
            os.replace(partial, self.path)
        self.best, self.best_step = value, step
        return True

    def restore_into(self, model: torch.nn.Module) -> bool:
        """Load the best weights into `model`; False when there are none (no evaluation happened)."""
        if self.best_step is None or not self.path.is_file():
            return False
        model.load_state_dict(load_file(str(self.path)))
        return True

    def state_dict(self) -> dict:
        return {"best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict) -> None:
        self.best = state["best"]
        self.best_step = state["best_step"]
