"""Calibration: the temperature fitted on dev, kept only when it lowers the dev ECE, folded into the saved model's
output layer so that every reader of the folder gives the calibrated probabilities; the measures before and after
in results.json, the card and plots/reliability.png."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import brier_score_loss, log_loss

from helpers import run_cli
from koelectra_cookbook.classifier.output_layer import FoldedTemperature, output_layer
from koelectra_cookbook.commands.predict import main as predict_main
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.quality.calibration import calibration_report, choose_temperature, probabilities
from koelectra_cookbook.trainers.beginner import BeginnerTrainer


def nsmc_run(root, tiny_model_dir, *sets: str):
    status, run = run_cli(BeginnerTrainer, "--task", "nsmc", "--output-dir", str(root / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={root / 'cache'}",
                          "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.epochs=2",
                          "--set", "train.learning_rate=5e-4", *sets)
    assert status == 0
    return run


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory, tiny_model_dir):
    return nsmc_run(tmp_path_factory.mktemp("calibration"), tiny_model_dir)


def over_confident(rows: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits three times as sure as the labels drawn from softmax(logits / 3) warrant."""
    random = np.random.default_rng(seed)
    logits = random.normal(0, 2, size=(rows, 3))
    chances = probabilities(logits, False)
    labels = np.array([random.choice(3, p=row) for row in chances])
    return logits * 3, labels


def test_the_measures_are_the_textbook_ones():
    logits = np.log(np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]]))
    labels = np.array([0, 1, 1, 1])
    report = calibration_report(logits, labels, multi_label=False)
    # confidences 0.9 (right), 0.6 (wrong), 0.7 (right), 0.8 (right): one per bin of 15, so ECE is the mean gap
    assert report["ece"] == pytest.approx((0.1 + 0.6 + 0.3 + 0.2) / 4)
    assert report["nll"] == pytest.approx(log_loss(labels, np.exp(logits)))
    assert report["brier"] == pytest.approx(2 * brier_score_loss(labels, np.exp(logits)[:, 1]))  # two labels
    assert [b["count"] for b in report["bins"]] == [1, 1, 1, 1]
    multi = calibration_report(np.array([[2.0, -1.0], [0.0, 3.0]]), np.array([[1, 0], [1, 1]]), multi_label=True)
    cells = probabilities(np.array([[2.0, -1.0], [0.0, 3.0]]), True).ravel()
    assert multi["brier"] == pytest.approx(brier_score_loss([1, 0, 1, 1], cells))


def test_an_over_confident_model_gets_a_temperature_that_lowers_ece_and_keeps_every_prediction():
    logits, labels = over_confident()
    fitted, kept = choose_temperature(logits, labels, multi_label=False)
    assert kept.all() and 2.5 < fitted[0] < 3.5
    before, after = (calibration_report(logits, labels, False, t) for t in (1.0, fitted))
    assert after["ece"] < before["ece"] / 3 and after["nll"] < before["nll"]
    assert (probabilities(logits, False, fitted).argmax(1) == logits.argmax(1)).all()


def test_a_temperature_that_does_not_lower_ece_is_not_kept():
    # confidence 0.75, right 3 times in 4: calibrated already (ECE 0), and the likelihood's optimum is T = 1
    logits = np.log(np.array([[0.75, 0.25]] * 4))
    fitted, kept = choose_temperature(logits, np.array([0, 0, 0, 1]), multi_label=False)
    assert fitted[0] == pytest.approx(1.0, abs=1e-3) and not kept[0]


def test_multi_label_fits_one_temperature_per_label_and_leaves_a_one_valued_label_alone():
    logits, labels = over_confident(seed=1)
    targets = np.stack([labels == 0, labels == 1, np.zeros_like(labels, dtype=bool)], axis=1).astype(float)
    fitted, kept = choose_temperature(logits, targets, multi_label=True)
    assert kept[:2].all() and fitted[2] == 1.0 and not kept[2]


def test_folding_divides_the_logits_and_undoing_restores_the_weights_exactly(tiny_model_dir):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3).eval()
    name, layer = output_layer(model, 3)
    assert name == "classifier.out_proj"
    ids = torch.tensor([[2, 100, 200, 3]])
    before = model(input_ids=ids).logits.detach()
    original = layer.weight.detach().clone()
    folded = FoldedTemperature(layer, np.array([2.0, 4.0, 0.5]))
    after = model(input_ids=ids).logits.detach()
    assert torch.allclose(after, before / torch.tensor([2.0, 4.0, 0.5]), atol=1e-6)
    folded.undo()
    assert torch.equal(layer.weight, original)


def test_the_run_reports_before_and_after_and_the_saved_model_carries_the_temperature(calibrated_run):
    results = json.loads((calibrated_run / "results.json").read_text())
    calibration = results["calibration"]
    evaluated = len(list(csv.DictReader((calibrated_run / "predictions.csv").open(encoding="utf-8"))))
    for split in ("dev", "eval"):
        for when in ("before", "after"):
            report = calibration[split][when]
            assert set(report) == {"ece", "brier", "nll", "bins"} and report["bins"]
            assert sum(b["count"] for b in report["bins"]) == (30 if split == "dev" else evaluated)
    assert calibration["kept"] == (calibration["dev"]["after"]["ece"] < calibration["dev"]["before"]["ece"])
    # the evaluation file was scored by the calibrated model: its loss is the NLL after calibration
    assert results["eval"]["loss"] == pytest.approx(calibration["eval"]["after"]["nll"], rel=1e-4)
    assert (calibrated_run / "plots" / "reliability.png").stat().st_size > 10_000
    saved = json.loads((calibrated_run / "model" / "config.json").read_text())
    card = (calibrated_run / "model" / "README.md").read_text()
    assert "## Calibration" in card
    if calibration["kept"]:
        assert saved["calibration"]["temperature"] == [pytest.approx(calibration["temperature"], abs=1e-6)]
        assert "folded into the weights" in card
    else:
        assert "calibration" not in saved and "was not kept" in card


def test_pipeline_alone_and_predict_give_the_runs_calibrated_scores(calibrated_run, tmp_path):
    from transformers import pipeline

    rows = list(csv.DictReader((calibrated_run / "predictions.csv").open(encoding="utf-8")))[:5]
    classify = pipeline("text-classification", model=str(calibrated_run / "model"), device="cpu")
    for row in rows:
        answer = classify(row["text"])[0]
        assert answer["label"] == row["prediction"] and answer["score"] == pytest.approx(float(row["score"]), abs=1e-4)
    (tmp_path / "in.txt").write_text("\n".join(row["text"] for row in rows) + "\n", encoding="utf-8")
    assert predict_main(["--model", str(calibrated_run / "model"), "--input", str(tmp_path / "in.txt"),
                         "--output", str(tmp_path / "out.csv")]) == 0
    predicted = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert [float(r["score"]) for r in predicted] == pytest.approx([float(r["score"]) for r in rows], abs=1e-5)


def test_the_server_and_int8_give_the_calibrated_scores_and_info_says_so(calibrated_run):
    pytest.importorskip("fastapi")
    from koelectra_cookbook.inference.predictor import Predictor
    from koelectra_cookbook.serving.api import build_app
    from koelectra_cookbook.serving.settings import ServerSettings
    from test_serve import started

    rows = list(csv.DictReader((calibrated_run / "predictions.csv").open(encoding="utf-8")))[:3]
    results = json.loads((calibrated_run / "results.json").read_text())
    client = started(build_app(ServerSettings(model=str(calibrated_run / "model"), quantize=None,
                                              log_requests=False)))
    try:
        info = client.get("/info").json()
        if results["calibration"]["kept"]:
            assert info["calibration"]["temperature"] == [pytest.approx(results["calibration"]["temperature"])]
        for row in rows:
            best = client.post("/", json={"inputs": row["text"]}).json()[0][0]
            assert best["label"] == row["prediction"] and best["score"] == pytest.approx(float(row["score"]), abs=1e-5)
    finally:
        client.__exit__(None, None, None)
    pytest.importorskip("onnxruntime")
    int8 = Predictor(calibrated_run / "model", quantize="int8").probabilities([row["text"] for row in rows]).max(1)
    assert int8 == pytest.approx([float(row["score"]) for row in rows], abs=0.02)  # int8 rounds, T is in the weights


def test_calibration_off_and_a_head_that_is_not_linear_last_leave_the_raw_probabilities(tmp_path, tiny_model_dir,
                                                                                        monkeypatch):
    off = nsmc_run(tmp_path / "off", tiny_model_dir, "--set", "train.calibration=false")
    assert "calibration" not in json.loads((off / "results.json").read_text())
    assert "calibration" not in json.loads((off / "model" / "config.json").read_text())
    # A layer whose outputs are not the logits: the fold's check fails, the weights are put back, the card says so.
    from koelectra_cookbook.trainers import calibration_hooks

    monkeypatch.setattr(calibration_hooks, "output_layer",
                        lambda model, labels: ("classifier.dense", model.classifier.dense))
    monkeypatch.setattr(calibration_hooks, "choose_temperature",
                        lambda logits, labels, multi: (np.array([3.0]), np.array([True])))
    wrong = nsmc_run(tmp_path / "wrong", tiny_model_dir)
    results = json.loads((wrong / "results.json").read_text())
    assert results["calibration"]["temperature"] == 1.0 and "not applied" in results["calibration"]["note"]
    assert results["calibration"]["eval"]["after"] == results["calibration"]["eval"]["before"]
    assert "calibration" not in json.loads((wrong / "model" / "config.json").read_text())
    assert "the scores are the raw probabilities" in (wrong / "model" / "README.md").read_text()


@pytest.mark.parametrize("record", [{"temperature": [1, 2, 3]}, {"temperature": [-1.0]}, {"temperature": [True]},
                                    {"temperature": []}, {"temperature": "2"}, ["temperature"]])
def test_a_damaged_calibration_record_is_read_as_none(record, tmp_path):
    """config.json's record is only shown (/info), never applied; what a stranger's folder holds there is checked."""
    from koelectra_cookbook.classifier.model_folder import ModelFolder

    assert ModelFolder(tmp_path, num_labels=2, calibration=record).temperature() is None
    assert ModelFolder(tmp_path, num_labels=2, calibration={"temperature": [0.5, 2]}).temperature() == [0.5, 2.0]
