"""Experiment tracking through Accelerate, plots and the model card of a run."""

from __future__ import annotations

import csv

import pytest

from helpers import run_cli
from koelectra_cookbook.config.schema import build_config
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.intermediate import IntermediateTrainer


def ynat_run(tmp_path, model_dir, *extra):
    status, run = run_cli(IntermediateTrainer, "--task", "ynat", "--output-dir", str(tmp_path / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / 'ynat'}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                          "--set", f"model.name_or_path={model_dir}", "--set", "train.epochs=3",
                          "--set", "train.learning_rate=1e-3", *extra)
    assert status == 0
    return run


def test_tensorboard_gets_every_evaluation_row(tmp_path, tiny_model_dir):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = ynat_run(tmp_path, tiny_model_dir, "--set", "train.report_to=tensorboard", "--set", "train.log_every=3")
    events = EventAccumulator(str(next((run / "logs").rglob("events.out.tfevents.*")).parent))
    events.Reload()
    with open(run / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    logged = events.Scalars("dev/macro_f1")
    assert [event.step for event in logged] == [int(row["step"]) for row in rows]
    assert [event.value for event in logged] == pytest.approx([float(row["macro_f1"]) for row in rows], abs=1e-4)
    with open(run / "train_log.csv", newline="") as handle:
        log_rows = list(csv.DictReader(handle))
    for column in ("loss", "learning_rate"):  # every train.log_every steps, as train_log.csv has them
        logged = events.Scalars(f"train/{column}")
        assert [event.step for event in logged] == [int(row["step"]) for row in log_rows]
        assert [event.value for event in logged] == pytest.approx([float(row[column]) for row in log_rows], rel=1e-4)


def test_a_beginner_run_of_one_epoch_has_a_loss_point_every_log_every_steps(tmp_path, tiny_model_dir):
    """The training loss is logged every train.log_every steps (train_log.csv and the plot), not only at the one
    evaluation a beginner run makes."""
    from koelectra_cookbook.trainers.beginner import BeginnerTrainer

    status, run = run_cli(BeginnerTrainer, "--task", "nsmc", "--output-dir", str(tmp_path / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                          "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.epochs=1",
                          "--set", "train.batch_size=16", "--set", "train.log_every=2",
                          "--set", "train.learning_rate=1e-3")
    assert status == 0
    with open(run / "train_log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # 270 training rows in batches of 16: 17 steps, a line every 2
    assert [int(row["step"]) for row in rows] == list(range(2, 17, 2))
    assert all(float(row["loss"]) > 0 and float(row["learning_rate"]) == 1e-3 for row in rows)
    assert rows[0]["grad_norm"] == ""  # the beginner does not clip
    with open(run / "metrics.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 1  # its one evaluation, at the end


def test_a_tracker_that_is_not_installed_names_the_install_command(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real_find_spec(name, *a))
    with pytest.raises(UserError, match="wandb is not installed; pip install wandb"):
        build_config([("test", {"train": {"report_to": ["wandb"]}})])
    with pytest.raises(UserError, match="train.report_to must list trackers among"):
        build_config([("test", {"train": {"report_to": "tensorbord"}})])


def test_plots_and_model_card_are_written(tmp_path, tiny_model_dir):
    """The card's content has tests of its own (test_model_card.py); here: it is written, with its run."""
    run = ynat_run(tmp_path, tiny_model_dir)
    for name in ("learning_curves.png", "confusion_matrix.png"):
        assert (run / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (run / "model" / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "language: ko" in card
    assert "IT과학" in card and "| evaluation file (ynat-v1.1_dev.json) |" in card
    assert "pipeline(\"text-classification\"" in card and "learning_rate: 0.001" in card
    assert f'model=".../ynat/{run.name}/model"' in card and "partial" not in card  # the final name, not the temporary one


def test_the_beginner_reports_no_gradient_accumulation(tmp_path, tiny_model_dir, capsys):
    """The beginner never accumulates, so its effective-batch line says batch x processes only; the expert
    names its accumulation."""
    from helpers import run_cli
    from koelectra_cookbook.trainers.beginner import BeginnerTrainer
    from koelectra_cookbook.trainers.expert import ExpertTrainer

    for trainer, expected in ((BeginnerTrainer, "effective batch 16 (batch 16 x 1 processes)"),
                              (ExpertTrainer, "effective batch 32 (batch 16 x accumulation 2 x 1 processes)")):
        status, _ = run_cli(trainer, "--task", "nsmc", "--output-dir", str(tmp_path / trainer.level),
                            "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                            "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.max_steps=1",
                            "--set", "train.batch_size=16", "--set", "train.gradient_accumulation_steps=2")
        assert status == 0 and expected in capsys.readouterr().out
