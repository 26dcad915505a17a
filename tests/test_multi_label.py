"""Multi-label: data with 0/1 columns or a list column, thresholds tuned on dev and saved, the outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from helpers import run_cli
from koelectra_cookbook.config.schema import build_config
from koelectra_cookbook.data.dataset import load_task_data
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.classifier.loading import load_tokenizer
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.expert import ExpertTrainer
from koelectra_cookbook.trainers.multi_label import MultiLabelTrainer

CATEGORIES = ["여성/가족", "남성", "성소수자", "인종/국적", "연령", "지역", "종교", "기타 혐오", "악플/욕설", "clean"]


def unsmile_args(tmp_path, model_dir, *extra):
    return ["--task", "unsmile", "--output-dir", str(tmp_path / "runs"),
            "--set", f"data.dir={SAMPLES_DIR / 'unsmile'}", "--set", f"data.cache_dir={tmp_path / 'cache'}",
            "--set", f"model.name_or_path={model_dir}", "--set", "train.epochs=4", "--set", "train.batch_size=16",
            "--set", "train.learning_rate=1e-3", *extra]


def test_unsmile_run_tunes_thresholds_on_dev_and_saves_them_with_the_model(tmp_path, tiny_model_dir):
    from transformers import pipeline

    status, run = run_cli(MultiLabelTrainer, *unsmile_args(tmp_path, tiny_model_dir))
    assert status == 0 and run.name.startswith("multi-label-")
    results = json.loads((run / "results.json").read_text())
    assert set(results["eval"]) == {"loss", "macro_f1", "micro_f1", "samples_f1", "lrap", "hamming_loss",
                                    "subset_accuracy"}

    config = json.loads((run / "model" / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(10)] == CATEGORIES
    assert config["problem_type"] == "multi_label_classification"
    with open(run / "per_label.csv", newline="") as handle:
        per_label = list(csv.DictReader(handle))
    assert [row["label"] for row in per_label] == CATEGORIES
    assert [float(row["threshold"]) for row in per_label] == pytest.approx(config["thresholds"], abs=1e-4)
    assert config["thresholds"] != [0.5] * 10  # tuned, not the default
    assert sum(int(row["support"]) for row in per_label if row["label"] == "clean") == 40

    with open(run / "predictions.csv", newline="") as handle:
        predictions = list(csv.DictReader(handle))
    assert list(predictions[0])[:3] == ["text", "labels", "predicted"] and list(predictions[0])[3:] == CATEGORIES
    assert len(predictions) == 100
    thresholds = np.array(config["thresholds"])
    for row in predictions:
        probabilities = np.array([float(row[name]) for name in CATEGORIES])
        predicted = set(row["predicted"].split("|")) - {""}
        clear = np.abs(probabilities - thresholds) > 1e-5  # both are written rounded to 6 decimals
        for name, probability, threshold in zip(np.array(CATEGORIES)[clear], probabilities[clear], thresholds[clear]):
            assert (name in predicted) == (probability > threshold)

    classify = pipeline("text-classification", model=str(run / "model"), function_to_apply="sigmoid", top_k=None)
    assert {item["label"] for item in classify(["요즘 애들은 버릇이 없어"])[0]} == set(CATEGORIES)


def test_a_fixed_threshold_is_used_for_every_label(tmp_path, tiny_model_dir):
    status, run = run_cli(MultiLabelTrainer, *unsmile_args(tmp_path, tiny_model_dir, "--set", "train.threshold=0.5",
                                                           "--set", "train.epochs=1"))
    assert status == 0
    assert json.loads((run / "model" / "config.json").read_text())["thresholds"] == [0.5] * 10


def test_the_wrong_script_for_the_data_is_a_user_error(tmp_path, tiny_model_dir, capsys):
    status, _ = run_cli(ExpertTrainer, *unsmile_args(tmp_path, tiny_model_dir))
    assert status == 2 and "run train_multi_label.py" in capsys.readouterr().err
    status, _ = run_cli(MultiLabelTrainer, "--task", "nsmc", "--demo", "--output-dir", str(tmp_path / "r"))
    assert status == 2 and "is single-label" in capsys.readouterr().err


def multi_label_config(tmp_path, **data):
    return build_config([("test", {"task": "mine", "data": {"dir": str(tmp_path), "cache_dir": str(tmp_path / "c"),
                                                            "dev_split": 0, **data}})])


def test_indicator_columns_must_hold_0_or_1(tmp_path, tiny_model_dir):
    (tmp_path / "t.tsv").write_text("문장\ta\tb\n좋다\t1\t0\n싫다\t0\t2\n", encoding="utf-8")
    config = multi_label_config(tmp_path, train_file="t.tsv", eval_file="t.tsv", text_column="문장",
                                label_columns=["a", "b"])
    with pytest.raises(UserError, match=r"t.tsv:3: column 'b' must be 0 or 1, found '2'"):
        load_task_data(config, load_tokenizer(str(tiny_model_dir)))


def test_a_list_column_in_jsonl_or_pipe_separated_text(tmp_path, tiny_model_dir):
    rows = [{"text": "좋다", "tags": ["a", "b"]}, {"text": "싫다", "tags": []}, {"text": "보통", "tags": "b|c"}]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    config = multi_label_config(tmp_path, train_file="t.jsonl", eval_file="t.jsonl", label_column="tags",
                                multi_label=True)
    data = load_task_data(config, load_tokenizer(str(tiny_model_dir)))
    assert data.label_names == ["a", "b", "c"]
    assert data.train.labels.tolist() == [[1, 1, 0], [0, 0, 0], [0, 1, 1]]  # a row with no label is valid

    config = multi_label_config(tmp_path, train_file="t.jsonl", eval_file="t.jsonl", label_column="tags",
                                multi_label=True, labels=["a", "b"])
    with pytest.raises(UserError, match=r"t.jsonl:3: label 'c' is not in the label set"):
        load_task_data(config, load_tokenizer(str(tiny_model_dir)))


def test_metrics_change_nothing_and_thresholds_are_chosen_once_by_calibrate(tmp_path, tiny_model_dir):
    """Scoring is free of side effects: during training each dev evaluation is scored at the thresholds it would
    get, without keeping them; `calibrate` chooses them, once, from the final model's dev predictions."""
    from koelectra_cookbook.commands.train import parse_args
    from koelectra_cookbook.config.resolve import resolve_config
    from koelectra_cookbook.classifier.metrics import multi_label_metrics, tune_thresholds

    argv = unsmile_args(tmp_path, tiny_model_dir, "--set", "train.epochs=1", "--set", "train.calibration=false")
    trainer = MultiLabelTrainer(resolve_config(parse_args("", argv, True)), output_dir=tmp_path / "runs")
    trainer.setup()
    metrics, probabilities = trainer.evaluate(trainer.data.dev)
    assert not trainer.thresholds_chosen and trainer.thresholds.tolist() == [0.5] * 10  # nothing kept
    tuned = tune_thresholds(trainer.data.dev.labels, probabilities)
    assert metrics["macro_f1"] == multi_label_metrics(trainer.data.dev.labels, probabilities, tuned,
                                                      ("macro_f1",))["macro_f1"]
    trainer.calibrate(probabilities)
    tuned = np.round(tuned, 6)  # as config.json keeps them, so the run scores what its saved model gives
    assert trainer.thresholds_chosen and trainer.thresholds.tolist() == tuned.tolist()
    eval_metrics, eval_probabilities = trainer.evaluate(trainer.data.eval)  # now at the chosen thresholds
    assert eval_metrics["macro_f1"] == multi_label_metrics(trainer.data.eval.labels, eval_probabilities, tuned,
                                                           ("macro_f1",))["macro_f1"]


def test_thresholds_are_tuned_on_the_calibrated_probabilities(tmp_path, tiny_model_dir):
    from koelectra_cookbook.commands.train import parse_args
    from koelectra_cookbook.config.resolve import resolve_config
    from koelectra_cookbook.classifier.metrics import tune_thresholds

    argv = unsmile_args(tmp_path, tiny_model_dir, "--set", "train.epochs=1")
    trainer = MultiLabelTrainer(resolve_config(parse_args("", argv, True)), output_dir=tmp_path / "runs")
    trainer.setup()
    _, raw = trainer.evaluate(trainer.data.dev)
    calibrated = trainer.calibrate(raw)
    assert trainer.calibration["kept"].any()  # the tiny model is not calibrated on any label as it comes
    assert not np.allclose(calibrated, raw)
    assert trainer.thresholds.tolist() == np.round(tune_thresholds(trainer.data.dev.labels, calibrated), 6).tolist()
