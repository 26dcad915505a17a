"""Several processes through torchrun / `accelerate launch`: the same script, no code change (2 CPU processes,
gloo). One run directory, each evaluation row counted once, predictions in input order."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from helpers import classifier_with_a_decided_head
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR
from koelectra_cookbook.inference.predictor import Predictor
from koelectra_cookbook.inference.processes import Processes


def test_two_processes_train_one_run_and_count_each_row_once(tmp_path, tiny_model_dir):
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               str(PROJECT_ROOT / "train_expert.py"), "--task", "nsmc", "--output-dir", str(tmp_path / "runs"),
               "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'cache'}",
               "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.batch_size=16",
               "--set", "train.epochs=2", "--set", "train.learning_rate=1e-3"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 processes" in result.stdout and "effective batch 32" in result.stdout
    runs = list((tmp_path / "runs" / "nsmc").iterdir())
    assert len(runs) == 1  # only the main process creates and writes
    run = runs[0]
    assert result.stdout.count(f"run: {run}") == 1

    # 270 training rows in batches of 16 = 17 batches, shared by 2 processes: 9 steps an epoch.
    with open(run / "metrics.csv", newline="") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [9, 18]

    with open(run / "predictions.csv", newline="", encoding="utf-8") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 99  # the 100 sample reviews less the empty one, none duplicated
    expected = Predictor(run / "model").table([row["text"] for row in predictions])
    assert [row["prediction"] for row in predictions] == expected["prediction"]
    accuracy = sum(row["prediction"] == row["label"] for row in predictions) / len(predictions)
    assert json.loads((run / "results.json").read_text())["eval"]["accuracy"] == accuracy


def test_two_processes_predict_one_file_identical_to_one_process(tmp_path, tiny_model_dir):
    """predict.py under torchrun: each process predicts every other batch, the main process writes the file."""
    model = classifier_with_a_decided_head(tiny_model_dir, tmp_path / "model")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    arguments = ["--model", str(model), "--input", str(SAMPLES_DIR / "nsmc" / "ratings_test.txt"),
                 "--text-column", "document", "--batch-size", "8"]  # 13 batches, so both processes get several
    alone = subprocess.run([sys.executable, str(PROJECT_ROOT / "predict.py"), *arguments,
                            "--output", str(tmp_path / "one.csv")], capture_output=True, text=True, env=env)
    assert alone.returncode == 0, alone.stderr[-3000:]
    shared = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             str(PROJECT_ROOT / "predict.py"), *arguments, "--output", str(tmp_path / "two.csv")],
                            capture_output=True, text=True, env=env, timeout=300)
    assert shared.returncode == 0, shared.stderr[-3000:]
    assert (tmp_path / "two.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert shared.stderr.count("wrote 100 predictions") == 1  # only the main process writes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "one.csv", "two.csv"]


def test_each_process_gets_every_other_batch_of_the_sorted_order():
    batches = [[i] for i in range(7)]
    shares = [Processes(SimpleNamespace(num_processes=3, process_index=rank)).share(batches) for rank in range(3)]
    assert shares == [[[0], [3], [6]], [[1], [4]], [[2], [5]]]
    assert Processes().share(batches) == batches  # one process: all of them


def test_two_processes_pretrain_one_run_and_evaluate_as_one_process_does(tmp_path, tiny_model_dir):
    """pretrain.py under torchrun: one run directory, the held-out blocks shared (3 batches: every other one each)
    and counted once, masked alike: the starting model's held-out figures equal a single process's."""
    from koelectra_cookbook.commands.train import main

    settings = ["--demo", "--set", f"model.name_or_path={tiny_model_dir}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                "--set", "train.eval_batch_size=2", "--set", "train.eval_every=3"]
    assert main("pretraining", "", [*settings, "--output-dir", str(tmp_path / "one"), "--set", "train.max_steps=1"]) == 0
    alone = json.loads(next((tmp_path / "one" / "corpus").iterdir()).joinpath("results.json").read_text())
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             str(PROJECT_ROOT / "pretrain.py"), *settings, "--output-dir", str(tmp_path / "two"),
                             "--set", "train.max_steps=6"], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "x 2 processes" in result.stdout
    [run] = list((tmp_path / "two" / "corpus").iterdir())
    with open(run / "metrics.csv", newline="") as handle:
        assert [int(row["step"]) for row in csv.DictReader(handle)] == [3, 6]
    shared = json.loads((run / "results.json").read_text())
    for name, value in alone["held_out_at_start"].items():
        # the same counts (a batch twice would move them by far more); float32 sums may differ in the last digits
        assert shared["held_out_at_start"][name] == pytest.approx(value, rel=1e-4), name
    assert (run / "model" / "model.safetensors").is_file() and (run / "generator" / "model.safetensors").is_file()
