"""End-to-end runs of the trainers on a tiny model, as a user runs them from the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import SHARED_DATA, requires_shared_data
from helpers import run_cli
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.intermediate import IntermediateTrainer


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_demo_run_leaves_a_complete_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the token cache goes under the working directory
    status, run = run_cli(BeginnerTrainer, "--task", "nsmc", "--demo", "--output-dir", "runs")
    assert status == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"run: {run}"
    assert run.parent.name == "nsmc" and run.name.startswith("beginner-")
    for name in ("config.yaml", "metrics.csv", "results.json", "predictions.csv", "model/config.json"):
        assert (run / name).is_file(), name

    results = json.loads((run / "results.json").read_text())
    assert set(results) >= {"eval", "dev", "train_samples_per_s", "train_runtime_s", "best_step"}
    assert 0 <= results["eval"]["accuracy"] <= 1 and results["eval"]["loss"] > 0

    predictions = read_csv(run / "predictions.csv")
    sample_rows = read_csv_tsv(SAMPLES_DIR / "nsmc" / "ratings_test.txt")
    kept = [row for row in sample_rows if row["document"].strip()]  # the empty review is dropped, and counted
    assert [p["text"] for p in predictions] == [row["document"].strip() for row in kept]
    assert [p["label"] for p in predictions] == [("negative", "positive")[int(row["label"])] for row in kept]
    assert {p["prediction"] for p in predictions} <= {"negative", "positive"}

    metrics = read_csv(run / "metrics.csv")
    assert list(metrics[0])[:6] == ["epoch", "step", "train_loss", "learning_rate", "loss", "accuracy"]


def read_csv_tsv(path: Path) -> list[dict]:
    import pandas as pd

    return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).to_dict("records")


def test_saved_model_works_in_a_pipeline_with_readable_labels(tmp_path, monkeypatch):
    from transformers import pipeline

    monkeypatch.chdir(tmp_path)
    status, run = run_cli(BeginnerTrainer, "--task", "ynat", "--demo", "--output-dir", "runs",
                          "--set", "train.epochs=1")
    assert status == 0
    classify = pipeline("text-classification", model=str(run / "model"))
    assert classify("삼성전자 반도체 수출 사상 최대")[0]["label"] in {
        "IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"}


def write_rows(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["id", "document", "label"])
        writer.writerows((i, text, label) for i, (text, label) in enumerate(rows))


def test_beginner_fits_a_small_sample(tmp_path, tiny_model_dir):
    """64 training rows evaluated on themselves: inputs and labels line up, and the loop really learns."""
    rows = read_csv_tsv(SAMPLES_DIR / "nsmc" / "ratings_train.txt")[:64]
    write_rows(tmp_path / "rows.tsv", [(row["document"], row["label"]) for row in rows])
    status, run = run_cli(
        BeginnerTrainer, "--task", "nsmc", "--output-dir", str(tmp_path / "runs"),
        "--set", f"data.dir={tmp_path}", "--set", "data.train_file=rows.tsv", "--set", "data.eval_file=rows.tsv",
        "--set", "data.dev_split=0", "--set", f"data.cache_dir={tmp_path / 'cache'}",
        "--set", f"model.name_or_path={tiny_model_dir}",
        "--set", "train.epochs=30", "--set", "train.batch_size=16", "--set", "train.learning_rate=1e-3")
    assert status == 0
    assert json.loads((run / "results.json").read_text())["eval"]["accuracy"] >= 0.95


def small_run_args(tmp_path: Path, tiny_model_dir: Path, *extra: str) -> list[str]:
    return ["--task", "nsmc", "--output-dir", str(tmp_path / "runs"),
            "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'cache'}",
            "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.batch_size=16",
            "--set", "train.learning_rate=5e-4", *extra]


def comparable(results: dict) -> dict:
    return {k: v for k, v in results.items() if k not in ("train_runtime_s", "train_samples_per_s")}


def test_same_seed_gives_the_same_metrics(tmp_path, tiny_model_dir):
    outcomes = []
    for attempt in range(2):
        status, run = run_cli(BeginnerTrainer, *small_run_args(tmp_path / str(attempt), tiny_model_dir))
        assert status == 0
        outcomes.append(comparable(json.loads((run / "results.json").read_text())))
    assert outcomes[0] == outcomes[1]


def test_intermediate_evaluates_during_training_and_exports_the_best_model(tmp_path, tiny_model_dir):
    status, run = run_cli(IntermediateTrainer, *small_run_args(
        tmp_path, tiny_model_dir, "--set", "train.eval_every=5", "--set", "train.epochs=2",
        "--set", "train.metrics=[accuracy, macro_f1, weighted_f1]", "--set", "train.es_metric=loss",
        "--set", "train.es_patience=null", "--set", "train.keep_checkpoints=true"))
    assert status == 0
    metrics = read_csv(run / "metrics.csv")
    steps = [int(row["step"]) for row in metrics]
    assert steps[:3] == [5, 10, 15] and steps == sorted(steps)
    assert {"accuracy", "macro_f1", "weighted_f1", "loss"} <= set(metrics[0])
    results = json.loads((run / "results.json").read_text())
    best = min(metrics, key=lambda row: float(row["loss"]))
    assert results["best_step"] == int(best["step"])
    assert results["dev"]["loss"] == pytest.approx(float(best["loss"]), rel=1e-4)
    kept = sorted(int(p.name.removeprefix("step-")) for p in (run / "checkpoints").glob("step-*"))
    assert kept == sorted({*steps[-2:], results["best_step"]})  # save_total_limit, and the best one spared


@requires_shared_data("nsmc/ratings_train.txt", "nsmc/ratings_test.txt")
def test_real_nsmc_files_load_with_the_right_counts(tmp_path):
    from koelectra_cookbook.commands.train import parse_args
    from koelectra_cookbook.config.resolve import resolve_config
    from koelectra_cookbook.data.dataset import load_task_data
    from transformers import BertTokenizer

    vocab = SHARED_DATA.parent / "vocab" / "koelectra-v1-vocab.txt"
    config = resolve_config(parse_args("", ["--task", "nsmc", "--set", f"data.dir={SHARED_DATA / 'nsmc'}",
                                            "--set", f"data.cache_dir={tmp_path}"], False))
    data = load_task_data(config, BertTokenizer(vocab=str(vocab), do_lower_case=False, strip_accents=False))
    assert (len(data.train), len(data.dev), len(data.eval)) == (135_000, 15_000, 49_997)
    assert any("3 rows with empty text dropped" in note for note in data.notes)
