"""What the scripts call: each script's main() in commands/, imported after Ctrl-C and SIGTERM are handled, so
stopping a script at any moment ends with exit status 130 and a one-line message instead of a traceback. The
heavy libraries (torch, transformers, accelerate) load later still, once the arguments and the config are
checked."""

from __future__ import annotations

import importlib
import signal
import sys


def train(level: str, description: str) -> int:
    """train_<level>.py: run the trainer of `level` on the command-line arguments."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.train:main")(level, description))


def predict() -> int:
    """predict.py: classify texts with a saved model."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.predict:main")())


def evaluate() -> int:
    """evaluate.py: score a saved model on a labelled file."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.evaluate:main")())


def app() -> int:
    """app.py: serve a web page for a saved model (Gradio, an optional extra)."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.app:main")())


def serve() -> int:
    """serve.py: an HTTP prediction server for a saved model (FastAPI and uvicorn, the `serve` extra)."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.serve:main")())


def sweep() -> int:
    """sweep.py: a hyperparameter search with Optuna (the `sweep` extra)."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.sweep:main")())


def audit() -> int:
    """audit.py: duplicates, leaks and label issues in a task's training data."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.audit:main")())


def compare() -> int:
    """compare.py: one table of several runs."""
    return _interruptible(lambda: _load("koelectra_cookbook.commands.compare:main")())


def _interruptible(run) -> int:
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    # A shell starts a background job (`python app.py &` in a script) with SIGINT ignored, and Python keeps that:
    # Ctrl-C or `kill -INT` would then do nothing. Every script here stops on SIGINT.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run()
    except KeyboardInterrupt:  # only while the libraries load: the scripts handle it themselves afterwards
        print("interrupted before the run started; nothing was written", file=sys.stderr)
        return 130


def _load(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)
