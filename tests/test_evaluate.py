"""evaluate.py: a saved model scored on a labelled file, through predict.py's reading and the trainers' metrics.
The scores of a run's own evaluation file are the run's; every input column is kept; bad input is one line."""

from __future__ import annotations

import csv
import json

import pytest

from helpers import run_cli
from koelectra_cookbook.commands.evaluate import main
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.expert import ExpertTrainer
from koelectra_cookbook.trainers.multi_label import MultiLabelTrainer


def trained(root, trainer, task: str, *extra: str):
    status, run = run_cli(trainer, "--task", task, "--output-dir", str(root / task),
                          "--set", f"data.dir={SAMPLES_DIR / task}", "--set", f"data.cache_dir={root / 'cache'}",
                          "--set", "train.learning_rate=1e-3", "--set", "data.download=false", *extra)
    assert status == 0
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("evaluate")
    model = ("--set", f"model.name_or_path={tiny_model_dir}")
    return {"nsmc": trained(root, BeginnerTrainer, "nsmc", *model, "--set", "train.epochs=2"),
            "korsts": trained(root, ExpertTrainer, "korsts", *model, "--set", "train.max_steps=8"),
            "unsmile": trained(root, MultiLabelTrainer, "unsmile", *model, "--set", "train.max_steps=8")}


def evaluate(run, input_file, out, capsys, *extra):
    status = main(["--model", str(run / "model"), "--input", str(input_file), "--output-dir", str(out), *extra])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    folder = captured.out.strip().splitlines()[-1].removeprefix("run: ")
    return json.loads(open(f"{folder}/results.json").read()), folder, captured.out


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_run_scored_on_its_own_evaluation_file_gets_its_own_metrics(runs, tmp_path, capsys):
    run = runs["nsmc"]
    results, folder, out = evaluate(run, SAMPLES_DIR / "nsmc" / "ratings_test.txt", tmp_path, capsys)
    own = json.loads((run / "results.json").read_text())["eval"]
    assert results["eval"]["accuracy"] == pytest.approx(own["accuracy"], abs=1e-9)
    assert set(results["eval"]) == {"accuracy", "macro_f1", "micro_f1", "weighted_f1"}
    assert results["rows"] == 99 and results["rows_not_scored"] == 1  # the sample's empty review
    assert "note: 1 row with an empty text not scored" in out
    rows = read_csv(f"{folder}/predictions.csv")
    assert list(rows[0]) == ["id", "document", "label", "prediction", "score"]  # every input column, then ours
    gold = {r["text"]: r["prediction"] for r in read_csv(run / "predictions.csv")}
    assert all(gold[r["document"]] == r["prediction"] for r in rows if r["document"] in gold)
    per_label = read_csv(f"{folder}/per_label.csv")
    assert [r["label"] for r in per_label] == ["negative", "positive"]  # the file's 0 and 1, by the model's names
    assert sum(int(r["support"]) for r in per_label) == 99
    assert (tmp_path / folder.split("/")[-1] / "plots" / "confusion_matrix.png").stat().st_size > 5000


def test_scores_of_pairs_and_labels_of_a_multi_label_model(runs, tmp_path, capsys):
    results, folder, _ = evaluate(runs["korsts"], SAMPLES_DIR / "korsts" / "sts-test.tsv", tmp_path, capsys,
                                  "--no-quoting")
    own = json.loads((runs["korsts"] / "results.json").read_text())["eval"]
    assert results["eval"]["pearson"] == pytest.approx(own["pearson"], abs=1e-6)
    assert list(read_csv(f"{folder}/predictions.csv")[0])[-1] == "prediction"
    results, folder, _ = evaluate(runs["unsmile"], SAMPLES_DIR / "unsmile" / "unsmile_valid_v1.0.tsv", tmp_path,
                                  capsys)
    own = json.loads((runs["unsmile"] / "results.json").read_text())["eval"]
    # Tuned thresholds sit on dev probabilities, and prediction batches rows otherwise than the trainer's
    # evaluation (float noise of 1e-7): a row at a threshold may fall the other way, moving F1 a little.
    assert results["eval"]["macro_f1"] == pytest.approx(own["macro_f1"], abs=0.02)
    # no threshold in it; near-tied label scores may swap ranks with another thread count (a CI run: 1.4e-4 apart)
    assert results["eval"]["lrap"] == pytest.approx(own["lrap"], abs=1e-3)
    assert len(read_csv(f"{folder}/per_label.csv")) == 10


def test_a_label_the_model_does_not_know_is_one_error_line_naming_it(runs, tmp_path, capsys):
    data = tmp_path / "test.csv"
    data.write_text("document,label\n좋다,1\n싫다,7\n", encoding="utf-8")
    assert main(["--model", str(runs["nsmc"] / "model"), "--input", str(data), "--output-dir",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {data}:3: label '7' is not in the label set"), err
    assert not (tmp_path / "out").exists()


def test_an_output_folder_inside_the_model_is_refused(runs, capsys):
    model = runs["nsmc"] / "model"
    assert main(["--model", str(model), "--input", str(SAMPLES_DIR / "nsmc" / "ratings_test.txt"),
                 "--output-dir", str(model / "eval")]) == 2
    assert "is inside the model" in capsys.readouterr().err and not (model / "eval").exists()
