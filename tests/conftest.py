"""Shared fixtures: a tiny ELECTRA built locally (no network), and paths to the real data when present."""

from __future__ import annotations

import os
from pathlib import Path

# Nothing in the tests may reach the network (set before transformers is imported: it reads them once).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# One fixed CPU thread count for every run of the suite (train.num_threads: auto would follow the machine's load,
# and tests that compare two runs loss for loss need both on the same count). Tests of `auto` unset it. Under
# pytest-xdist the cores are shared out among the workers: two workers of two threads each on two cores would wait
# on each other's threads at every small operation.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, len(os.sched_getaffinity(0)) // _WORKERS)))

import pytest  # noqa: E402

from koelectra_cookbook.paths import PROJECT_ROOT  # noqa: E402
from koelectra_cookbook.classifier.tiny import build_tiny_electra, sample_files, train_vocab  # noqa: E402

# The files whose tests take longest (subprocesses, two-process launches, kill-and-resume runs) are handed out first:
# with both workers busy from the start, neither is left alone at the end with a 30-second test. Order within a
# file is kept, so module fixtures are still built once per worker.
LONGEST_FIRST = ("test_resume.py", "test_pretraining.py", "test_distributed.py", "test_serve.py", "test_sweep.py",
                 "test_long_text.py", "test_ladder.py", "test_audit.py", "test_app.py")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: LONGEST_FIRST.index(item.path.name) if item.path.name in LONGEST_FIRST
               else len(LONGEST_FIRST))


SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
SHARED_VOCAB = PROJECT_ROOT.parent / "shared" / "vocab" / "koelectra-v1-vocab.txt"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A 2-layer, hidden-32 ELECTRA with a WordPiece vocabulary learnt from the bundled samples."""
    vocab = train_vocab(sample_files(), vocab_size=2000)
    return build_tiny_electra(tmp_path_factory.mktemp("tiny-electra"), vocab, hidden_size=32, num_layers=2,
                              num_heads=2)


def requires_shared_data(*relative: str):
    """Skip a test when ../shared/data (the real datasets) is not beside the checkout."""
    missing = [r for r in relative if not (SHARED_DATA / r).exists()]
    return pytest.mark.skipif(bool(missing), reason=f"real data not available: {missing}")


@pytest.fixture(autouse=True)
def torch_threads_restored():
    """A run that stops with an error keeps the thread count it trained with: the next test gets the old one."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)
