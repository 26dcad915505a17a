"""The trainer ladder: each level only adds. With its additions switched off, a level trains exactly as the
level below it does."""

from __future__ import annotations

import csv
import json

from helpers import run_cli
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.expert import ExpertTrainer
from koelectra_cookbook.trainers.intermediate import IntermediateTrainer


def run(trainer_class, tmp_path, tiny_model_dir, *extra):
    status, run_dir = run_cli(
        trainer_class, "--task", "nsmc", "--output-dir", str(tmp_path / trainer_class.level),
        "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'cache'}",
        "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.batch_size=16", "--set", "train.epochs=2",
        "--set", "train.learning_rate=1e-3", *extra)
    assert status == 0
    with open(run_dir / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    results = json.loads((run_dir / "results.json").read_text())
    return rows, {k: v for k, v in results.items() if k not in ("train_runtime_s", "train_samples_per_s")}


def test_intermediate_without_evaluation_or_early_stopping_trains_as_the_beginner(tmp_path, tiny_model_dir):
    beginner = run(BeginnerTrainer, tmp_path, tiny_model_dir)
    intermediate = run(IntermediateTrainer, tmp_path, tiny_model_dir, "--set", "train.evaluate_during_training=false",
                       "--set", "train.es_patience=null", "--set", "train.metrics=[accuracy]")
    assert intermediate == beginner


def test_expert_with_its_additions_off_trains_as_the_intermediate(tmp_path, tiny_model_dir):
    common = ("--set", "train.eval_every=5", "--set", "train.es_patience=null")
    intermediate = run(IntermediateTrainer, tmp_path, tiny_model_dir, *common)
    expert = run(ExpertTrainer, tmp_path, tiny_model_dir, *common, "--set", "train.gradient_accumulation_steps=1",
                 "--set", "train.max_grad_norm=null", "--set", "train.warmup_ratio=0", "--set", "train.lr_schedule=constant",
                 "--set", "train.layerwise_lr_decay=1.0")
    assert [row["train_loss"] for row in expert[0]] == [row["train_loss"] for row in intermediate[0]]
    assert expert == intermediate


def test_a_setting_the_level_does_not_use_is_named_when_the_run_starts(tmp_path, tiny_model_dir, capsys):
    """Trainer-style flags and --set keys of a higher level are named, not dropped in silence; the shipped
    task defaults (warmup and clipping for the built-in tasks) are not the user's and are not named."""
    from koelectra_cookbook.commands.train import main

    argv = ["--task", "nsmc", "--output-dir", str(tmp_path / "runs"), "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}",
            "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", f"model.name_or_path={tiny_model_dir}",
            "--set", "train.max_steps=1"]
    assert main(BeginnerTrainer, "test", [*argv, "--warmup_ratio", "0.2", "--eval_steps", "5", "--fp16"]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: train_beginner.py")]
    assert notes == ["note: train_beginner.py does not use train.warmup_ratio, train.eval_every, "
                     "train.mixed_precision (set, but ignored at the beginner level); train_intermediate.py or "
                     "train_expert.py uses them"]
    assert main(BeginnerTrainer, "test", argv) == 0
    assert "does not use" not in capsys.readouterr().out


def test_the_keys_each_level_adds_are_the_ones_its_docstring_names():
    import importlib
    import re

    from koelectra_cookbook.config.levels import ADDED_KEYS, LADDER, LEVELS, lineage

    for index, name in enumerate(LADDER):
        module, _ = LEVELS[name].trainer.split(":")
        text = importlib.import_module(module).__doc__
        listed = re.split(r"Config keys (?:added|used here):", text)[1].split(".\n")[0]
        named, section = set(), "train"
        for item in re.split(r"[,;]|\bor\b", re.sub(r"\([^)]*\)", "", listed)):
            item = item.strip()
            if "." in item:
                section, item = item.split(".", 1)
            if item and item != "*" and section in ("train", "model", "pretrain"):
                named.add(f"{section}.{item}")
        below = {key for lower in lineage(name)[:-1] for key in ADDED_KEYS[lower]}
        assert set(ADDED_KEYS[name]) <= named, (name, set(ADDED_KEYS[name]) - named)
        assert named <= set(ADDED_KEYS[name]) | below, (name, named - set(ADDED_KEYS[name]) - below)
