"""What the scripts call. The heavy libraries (torch, transformers) are imported in here, after Ctrl-C and
SIGTERM are handled, so stopping a script at any moment, even while torch loads, ends with exit status 130
and a one-line message instead of a traceback."""

from __future__ import annotations

import importlib
import signal
import sys

TRAINERS = {
    "beginner": "koelectra_cookbook.trainers.beginner:BeginnerTrainer",
    "intermediate": "koelectra_cookbook.trainers.intermediate:IntermediateTrainer",
    "expert": "koelectra_cookbook.trainers.expert:ExpertTrainer",
    "multi-label": "koelectra_cookbook.trainers.multi_label:MultiLabelTrainer",
}


def train(level: str, description: str) -> int:
    """train_<level>.py: run the trainer of `level` on the command-line arguments."""
    return _interruptible(lambda: _cli().main(_load(TRAINERS[level]), description))


def predict() -> int:
    """predict.py: classify texts with a saved model."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.predict:main")())


def app() -> int:
    """app.py: serve a web page for a saved model (Gradio, an optional extra)."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.app:main")())


def sweep() -> int:
    """sweep.py: a hyperparameter search with Optuna (the `sweep` extra)."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.sweep:main")())


def compare() -> int:
    """compare.py: one table of several runs."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.compare:main")())


def _interruptible(run) -> int:
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        return run()
    except KeyboardInterrupt:  # only while the libraries load: the scripts handle it themselves afterwards
        print("interrupted before the run started; nothing was written", file=sys.stderr)
        return 130


def _cli():
    return importlib.import_module("koelectra_cookbook.commands.train")


def _load(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)
