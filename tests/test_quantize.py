"""predict.py --quantize int8: an int8 copy of the model (ONNX Runtime) predicts like the float model, is built
once into a content-addressed cache, is checked when read back, and is refused on a GPU."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import sys

import numpy as np
import pytest
import torch

from helpers import copied_int8_cache, classifier_with_a_decided_head, run_cli
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.commands.predict import main
from koelectra_cookbook.inference.predictor import Predictor
from koelectra_cookbook.trainers.multi_label import MultiLabelTrainer

TEST_FILE = SAMPLES_DIR / "nsmc" / "ratings_test.txt"


@pytest.fixture(scope="module")
def nsmc_model(tmp_path_factory, tiny_model_dir):
    return classifier_with_a_decided_head(tiny_model_dir, tmp_path_factory.mktemp("int8-nsmc") / "model")


@pytest.fixture(scope="module")
def built_cache(nsmc_model, tmp_path_factory):
    """A user cache folder holding nsmc_model's int8 entry, built once for the tests that only read it (an
    export takes tens of seconds)."""
    pytest.importorskip("onnxruntime")
    home = tmp_path_factory.mktemp("built-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        Predictor(nsmc_model, quantize="int8")
    return home


@pytest.fixture
def cache_home(built_cache, tmp_path, monkeypatch):
    """This test's own copy of the built cache, as the user's cache folder; returns the int8 folder in it."""
    return copied_int8_cache(built_cache, tmp_path, monkeypatch)


@pytest.fixture
def empty_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    return tmp_path / "empty-cache" / "koelectra-cookbook" / "int8"


def sample_texts() -> list[str]:
    with open(TEST_FILE, newline="", encoding="utf-8") as handle:
        return [row["document"] for row in csv.DictReader(handle, delimiter="\t")]


def predict(argv: list[str], capsys) -> tuple[int, list[dict], str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, list(csv.DictReader(io.StringIO(captured.out))), captured.err


def test_int8_predictions_follow_the_float_model(nsmc_model, cache_home):
    texts = sample_texts()
    full = Predictor(nsmc_model).probabilities([t for t in texts if t.strip()])
    int8 = Predictor(nsmc_model, quantize="int8").probabilities([t for t in texts if t.strip()])
    assert int8.shape == full.shape
    assert np.abs(int8 - full).max() < 0.05
    decided = np.abs(full[:, 1] - 0.5) > 0.05  # rows the float model is not on the fence about
    assert decided.sum() > len(full) // 2
    assert (int8.argmax(1) == full.argmax(1))[decided].all()


def test_the_int8_model_is_built_once_and_read_from_the_cache(nsmc_model, built_cache, cache_home, capsys):
    argv = ["--model", str(nsmc_model), "--input", str(TEST_FILE), "--text-column", "document", "--quantize", "int8"]
    entries = list(cache_home.iterdir())
    assert len(entries) == 1 and len(entries[0].name) == 64  # one content-addressed entry, nothing half-written
    assert sorted(p.name for p in entries[0].iterdir()) == ["manifest.json", "model.int8.onnx", "tokenizer.json"]
    status, first, err = predict(argv, capsys)
    assert status == 0 and err.strip() == "" and len(first) == len(sample_texts())
    assert [row["prediction"] for row in first if row["text"].strip()] != []
    status, second, _ = predict(argv, capsys)
    assert second == first and list(cache_home.iterdir()) == entries


def test_int8_batches_run_side_by_side_in_input_order(nsmc_model, cache_home):
    texts = [t for t in sample_texts() if t.strip()]
    predictor = Predictor(nsmc_model, batch_size=4, quantize="int8")
    predictor.model.workers = 1
    one_thread = predictor.probabilities(texts)
    predictor.model.workers = 3
    assert np.array_equal(predictor.probabilities(texts), one_thread)  # each batch is computed on one thread


def test_ctrl_c_during_int8_prediction_does_not_wait_for_every_batch():
    import threading
    import time

    from koelectra_cookbook.inference.int8.runtime import Int8Classifier

    class SlowSession:
        computed = 0

        def run(self, outputs, feed):
            time.sleep(0.02)
            with threading.Lock():
                SlowSession.computed += 1
            return [np.zeros((len(feed["input_ids"]), 2), dtype=np.float32)]

    batch = (np.ones((2, 3), dtype=np.int64), np.ones((2, 3), dtype=np.int64))
    settings = {"labels": ["negative", "positive"], "thresholds": [0.5, 0.5], "multi_label": False, "pad_token_id": 0}
    logits = Int8Classifier(SlowSession(), None, settings, workers=2).logits_in_order([batch] * 200)
    with pytest.raises(KeyboardInterrupt):
        for _ in logits:
            raise KeyboardInterrupt  # what Ctrl-C does in the main thread while the pool computes
    logits.close()  # as the interrupted frames unwind
    assert SlowSession.computed < 20


def test_the_cached_int8_model_has_the_transformer_fusions(cache_home):
    import onnx

    (entry,) = cache_home.iterdir()
    operators = {node.op_type for node in onnx.load(str(entry / "model.int8.onnx")).graph.node}
    assert {"SkipLayerNormalization", "BiasGelu", "MatMulInteger"} <= operators


def test_fusions_that_change_the_logits_are_left_out(nsmc_model, tmp_path, monkeypatch):
    import onnx

    from koelectra_cookbook.inference.int8 import export as int8_export
    from koelectra_cookbook.inference.full_precision import load_classifier

    real_check = int8_export.check_export

    def fused_graph_is_wrong(model, path, *inputs):
        if "fused" in path.name:
            raise RuntimeError("the logits differ")
        real_check(model, path, *inputs)

    monkeypatch.setattr(int8_export, "check_export", fused_graph_is_wrong)
    int8_export.write_int8_model(load_classifier(nsmc_model).eval(), tmp_path / "model.int8.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.int8.onnx"]
    operators = {node.op_type for node in onnx.load(str(tmp_path / "model.int8.onnx")).graph.node}
    assert "MatMulInteger" in operators and "SkipLayerNormalization" not in operators


@pytest.mark.slow
def test_a_changed_model_gets_a_new_entry(nsmc_model, cache_home, tmp_path, capsys):
    from safetensors.torch import load_file, save_file

    before = Predictor(nsmc_model, quantize="int8").probabilities(["정말 재밌다", "최악"])
    changed = shutil.copytree(nsmc_model, tmp_path / "changed")
    weights = load_file(changed / "model.safetensors")
    name = next(k for k in weights if k.endswith("classifier.out_proj.bias"))
    weights[name] = weights[name] + torch.tensor([2.0, -2.0])  # the same shapes, other predictions
    save_file(weights, changed / "model.safetensors", metadata={"format": "pt"})
    full = Predictor(changed).probabilities(["정말 재밌다", "최악"])
    int8 = Predictor(changed, quantize="int8").probabilities(["정말 재밌다", "최악"])
    assert (int8.argmax(1) == full.argmax(1)).all() and np.abs(int8 - before).max() > 0.2  # not the old entry
    assert len(list(cache_home.iterdir())) == 2

    # The changed model's int8 file copied into the first model's entry, its manifest re-hashed as a stranger
    # would: every file is whole and the labels are right, but the file says it is another model's.
    from koelectra_cookbook.classifier.model_folder import read_model_folder
    from koelectra_cookbook.inference.int8.cache import cache_key

    first, second = (cache_home / cache_key(model, read_model_folder(model).kind) for model in [nsmc_model, changed])
    shutil.copyfile(second / "model.int8.onnx", first / "model.int8.onnx")
    rehash(first, "model.int8.onnx")
    capsys.readouterr()
    assert Predictor(nsmc_model, quantize="int8").probabilities(["정말 재밌다", "최악"]) == pytest.approx(before,
                                                                                                       abs=1e-6)
    assert "is damaged or not this model's; building it again" in capsys.readouterr().err


def rehash(entry, name: str) -> None:
    """The entry's manifest made to match the file `name` as it now is."""
    manifest_file = entry / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    data = (entry / name).read_bytes()
    manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest_file.write_text(json.dumps(manifest))


def damage_entry(entry, damage: str) -> None:
    onnx_file, manifest_file = entry / "model.int8.onnx", entry / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    if damage == "flip a byte":
        data = bytearray(onnx_file.read_bytes())
        data[len(data) // 2] ^= 0xFF
        onnx_file.write_bytes(bytes(data))
    elif damage == "cut short":
        onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
    elif damage == "tokenizer edited":
        tokenizer = entry / "tokenizer.json"
        tokenizer.write_text(tokenizer.read_text().replace('"max_length":', '"max_length": 1, "_was":'))
    elif damage == "manifest of another entry":
        manifest["key"] = "0" * 64
    elif damage == "threshold out of range":
        manifest["settings"]["thresholds"][0] = 7
    elif damage == "labels not a list":
        manifest["settings"]["labels"] = "negative,positive"
    elif damage == "model kind missing":  # an entry of the layout before pairs
        del manifest["settings"]["sentence_pair"]
    elif damage == "a regression model of two outputs":
        manifest["settings"]["regression"] = True
    elif damage == "manifest not JSON":
        manifest = None
    elif damage == "labels reversed":  # each file whole; the labels are not the model's
        manifest["settings"]["labels"].reverse()
    elif damage == "thresholds not the model's":
        manifest["settings"]["thresholds"] = [0.4, 0.6]
    elif damage == "a multi-label entry":
        manifest["settings"]["multi_label"] = True
    elif damage == "a padding id out of the vocabulary":
        manifest["settings"]["pad_token_id"] = 10**6
    manifest_file.write_text("{" if manifest is None else json.dumps(manifest))


DAMAGES = ["flip a byte", "cut short", "tokenizer edited", "manifest of another entry", "threshold out of range",
           "labels not a list", "model kind missing", "a regression model of two outputs", "manifest not JSON",
           "labels reversed", "thresholds not the model's", "a multi-label entry", "a padding id out of the vocabulary"]


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_cache_entry_is_noticed(nsmc_model, cache_home, capsys, damage):
    from koelectra_cookbook.classifier.model_folder import read_model_folder
    from koelectra_cookbook.inference.int8.cache import verified_manifest

    entry, model = next(cache_home.iterdir()), read_model_folder(nsmc_model)
    assert verified_manifest(entry, model) is not None
    damage_entry(entry, damage)
    assert verified_manifest(entry, model) is None
    assert "is damaged or not this model's; building it again" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["flip a byte", "labels reversed"])
def test_a_damaged_cache_entry_is_rebuilt(nsmc_model, cache_home, capsys, damage):
    expected = Predictor(nsmc_model, quantize="int8").table(["재밌다", "최악"])
    entry = next(cache_home.iterdir())
    damage_entry(entry, damage)
    assert Predictor(nsmc_model, quantize="int8").table(["재밌다", "최악"]) == expected
    err = capsys.readouterr().err
    assert "building it again" in err and "building the int8 model" in err
    from koelectra_cookbook.classifier.model_folder import read_model_folder
    from koelectra_cookbook.inference.int8.cache import verified_manifest

    assert verified_manifest(entry, read_model_folder(nsmc_model)) is not None  # whole again


@pytest.mark.slow
def test_a_cache_folder_that_cannot_be_written_quantises_for_this_run_only(nsmc_model, tmp_path, monkeypatch,
                                                                             capsys):
    pytest.importorskip("onnxruntime")
    (tmp_path / "not-a-folder").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not-a-folder"))
    status, rows, err = predict(["--model", str(nsmc_model), "--input", str(TEST_FILE), "--text-column", "document",
                                 "--quantize", "int8"], capsys)
    assert status == 0 and len(rows) == len(sample_texts())
    assert "cannot write the int8 cache" in err and "for this run only" in err


@pytest.mark.slow
def test_a_multi_label_model_uses_sigmoids_and_its_saved_thresholds(tmp_path, tiny_model_dir, empty_cache_home,
                                                                      capsys):
    pytest.importorskip("onnxruntime")
    status, run = run_cli(MultiLabelTrainer, "--task", "unsmile", "--output-dir", str(tmp_path / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / 'unsmile'}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                          "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.epochs=1")
    assert status == 0
    capsys.readouterr()  # what the training printed
    (tmp_path / "in.txt").write_text("너무 싫다\n좋은 하루\n\n", encoding="utf-8")
    argv = ["--model", str(run / "model"), "--input", str(tmp_path / "in.txt")]
    _, full, _ = predict(argv, capsys)
    status, int8, _ = predict([*argv, "--quantize", "int8"], capsys)
    assert status == 0 and list(int8[0]) == list(full[0]) and len(int8) == 3
    predictor = Predictor(run / "model", quantize="int8")
    assert predictor.multi_label and len(set(predictor.thresholds)) > 1  # tuned per label, not one 0.5
    # The decision is taken on the unrounded probabilities (a barely trained model sits at ~0.5, where the CSV's six
    # decimals can fall on the other side of a threshold).
    unrounded = predictor.probabilities(["너무 싫다", "좋은 하루"])
    for ours, theirs, probabilities in zip(int8[:2], full[:2], unrounded):
        assert probabilities == pytest.approx([float(ours[n]) for n in predictor.label_names], abs=1e-6)
        assert probabilities == pytest.approx([float(theirs[n]) for n in predictor.label_names], abs=0.05)
        chosen = [n for n, p, t in zip(predictor.label_names, probabilities, predictor.thresholds) if p >= t]
        assert ours["predicted"] == "|".join(chosen)
    assert int8[2]["predicted"] == "" and int8[2][predictor.label_names[0]] == ""


def test_quantize_on_a_gpu_is_one_error_line(nsmc_model, monkeypatch, capsys):
    from koelectra_cookbook.inference.processes import Processes

    monkeypatch.setattr(Processes, "may_use_a_gpu", lambda self: True)  # GPU device files, as on a GPU machine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    status, rows, err = predict(["--model", str(nsmc_model), "--input", str(TEST_FILE), "--text-column", "document",
                                 "--quantize", "int8"], capsys)
    lines = err.strip().splitlines()
    assert status == 2 and rows == [] and len(lines) == 1
    assert lines[0].startswith("error: --quantize int8 runs on the CPU") and "cuda" in lines[0]


def test_quantize_without_onnxruntime_names_the_extra(nsmc_model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an import of a missing package does
    status, _, err = predict(["--model", str(nsmc_model), "--input", str(TEST_FILE), "--text-column", "document",
                              "--quantize", "int8"], capsys)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: ") and '".[int8]"' in lines[0]


def test_an_unknown_quantize_choice_is_one_error_line(nsmc_model, capsys):
    status, _, err = predict(["--model", str(nsmc_model), "--quantize", "int4"], capsys)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "int4" in lines[0]


def test_the_cached_tokenizer_gives_the_ids_of_the_full_precision_one(nsmc_model, cache_home):
    import unicodedata

    long_review = "정말 재밌는 영화였다 " * 200  # past the model's longest input: truncated the same way
    texts = [*sample_texts(), long_review, unicodedata.normalize("NFD", "재밌다 ㅋㅋ"), "", "   ", "😀 English 123"]
    int8 = Predictor(nsmc_model, quantize="int8").model.token_ids(texts)
    full = Predictor(nsmc_model).model.token_ids(texts)
    assert len(int8) == len(full) and all(np.array_equal(a, b) for a, b in zip(int8, full))
    assert len(full[len(sample_texts())]) < 200 * 4  # the long review really was cut


def test_a_warm_int8_call_imports_neither_torch_nor_transformers(nsmc_model, cache_home, tmp_path):
    import subprocess

    (tmp_path / "in.txt").write_text("정말 재밌다\n최악\n", encoding="utf-8")
    script = ("import sys\nfrom koelectra_cookbook.commands.predict import main\n"
              f"status = main(['--model', {str(nsmc_model)!r}, '--input', {str(tmp_path / 'in.txt')!r}, "
              f"'--output', {str(tmp_path / 'out.csv')!r}, '--quantize', 'int8'])\n"
              "print(status, sorted({'torch', 'transformers', 'accelerate', 'pandas'} & set(sys.modules)))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "XDG_CACHE_HOME": str(cache_home.parents[1])})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == "0 []"
    assert "building" not in result.stderr and (tmp_path / "out.csv").read_text().count("\n") == 3


def test_a_cached_tokenizer_that_is_not_one_is_one_error_line(nsmc_model, cache_home, capsys):
    (entry,) = cache_home.iterdir()
    tokenizer, manifest_file = entry / "tokenizer.json", entry / "manifest.json"
    tokenizer.write_text('{"model": {"type": "WordPiece", "vocab": 7}}')  # valid JSON, no tokenizer
    manifest = json.loads(manifest_file.read_text())
    manifest["files"]["tokenizer.json"] = {"size": tokenizer.stat().st_size,
                                           "sha256": hashlib.sha256(tokenizer.read_bytes()).hexdigest()}
    manifest_file.write_text(json.dumps(manifest))  # as a stranger who also rewrote the manifest would
    status, rows, err = predict(["--model", str(nsmc_model), "--input", str(TEST_FILE), "--text-column", "document",
                                 "--quantize", "int8"], capsys)
    lines = err.strip().splitlines()
    assert status == 2 and rows == [] and len(lines) == 1
    assert lines[0].startswith(f"error: {tokenizer}: not a readable tokenizer") and "rebuild" in lines[0]
