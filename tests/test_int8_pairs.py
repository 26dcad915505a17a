"""predict.py --quantize int8 for sentence-pair and regression models: pairs tokenized as in full precision (the
longer text cut first), token_type_ids fed to the int8 model, scores and classes that follow the float model's,
and a cached export that does not take token_type_ids noticed."""

from __future__ import annotations

import csv
import io
import json
import shutil
import unicodedata

import numpy as np
import pytest

from helpers import copied_int8_cache, run_cli
from koelectra_cookbook.data.lengths import pad_rows, segment_ids
from koelectra_cookbook.data.readers import read_table
from koelectra_cookbook.data.tokens import nfc
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.inference.predictor import Predictor
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.expert import ExpertTrainer

pytest.importorskip("onnxruntime")


def train_pair_model(work, encoder_dir, trainer, task, random_head: bool = False):
    """A pair model trained for a few steps on the bundled samples, as tests/test_pairs.py's pair_run trains one.
    `random_head`: then given a head of random weights at the scale of its width: eight steps on 300 pairs leave a
    classifier giving every pair the same class, on which any int8 model would agree."""
    import torch
    from safetensors.torch import load_file, save_file

    status, run = run_cli(trainer, "--task", task, "--output-dir", str(work / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / task}", "--set", f"data.cache_dir={work / 'cache'}",
                          "--set", f"model.name_or_path={encoder_dir}", "--set", "train.max_steps=8",
                          "--set", "train.learning_rate=1e-3", "--set", "data.download=false")
    assert status == 0
    if random_head:
        weights = load_file(run / "model" / "model.safetensors")
        generator = torch.Generator().manual_seed(0)
        for name in [name for name in weights if name.startswith("classifier.")]:
            shape = weights[name].shape
            weights[name] = torch.randn(shape, generator=generator) / shape[-1] ** 0.5 if len(shape) == 2 \
                else torch.zeros(shape)
        save_file(weights, run / "model" / "model.safetensors", metadata={"format": "pt"})
    return run / "model"


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory, tiny_model_dir):
    """The tiny ELECTRA with its encoder layers' matrices at the scale of their width (std 0.2 ~ 1/sqrt(32), not
    ELECTRA's 0.02): at 0.02 a tiny random encoder's [CLS] output is nearly its own embedding whatever the texts
    (and whatever their token_type_ids), so every pair would get one score, and a comparison of two precisions
    could not tell a wiring mistake from rounding."""
    from safetensors.torch import load_file, save_file

    folder = shutil.copytree(tiny_model_dir, tmp_path_factory.mktemp("int8-pairs-encoder") / "encoder")
    weights = load_file(folder / "model.safetensors")
    for name, tensor in weights.items():
        if ".encoder.layer." in name and name.endswith(".weight") and tensor.dim() == 2:
            weights[name] = tensor * 10
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


@pytest.fixture(scope="module")
def korsts_model(tmp_path_factory, encoder_dir):
    return train_pair_model(tmp_path_factory.mktemp("int8-korsts"), encoder_dir, ExpertTrainer, "korsts")


@pytest.fixture(scope="module")
def kornli_model(tmp_path_factory, encoder_dir):
    return train_pair_model(tmp_path_factory.mktemp("int8-kornli"), encoder_dir, BeginnerTrainer, "kornli",
                            random_head=True)


@pytest.fixture(scope="module")
def built_cache(korsts_model, kornli_model, tmp_path_factory):
    """A user cache folder holding both models' int8 entries, built once for the tests that only read them."""
    home = tmp_path_factory.mktemp("int8-pairs-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        Predictor(korsts_model, quantize="int8")
        Predictor(kornli_model, quantize="int8")
    return home


@pytest.fixture
def cache_home(built_cache, tmp_path, monkeypatch):
    """This test's own copy of the built cache, as the user's cache folder; returns the int8 folder in it."""
    return copied_int8_cache(built_cache, tmp_path, monkeypatch)


def entry_of(model, cache_home):
    from koelectra_cookbook.classifier.model_folder import read_model_folder
    from koelectra_cookbook.inference.int8.cache import cache_key

    return cache_home / cache_key(model, read_model_folder(model).kind)


def sample_pairs(task: str, files: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(first texts, second texts, gold) of bundled sample files, read as the published files are."""
    gold_column = "score" if task == "korsts" else "gold_label"
    texts, pairs, gold = [], [], []
    for name in files:
        table, _ = read_table(SAMPLES_DIR / task / name, "tsv", ["sentence1", "sentence2", gold_column],
                              quoting=False)
        texts += table["sentence1"].tolist()
        pairs += table["sentence2"].tolist()
        gold += table[gold_column].tolist()
    return texts, pairs, gold


LONG_FIRST, LONG_SECOND = "배우들 연기가 정말 미쳤음 " * 60, "아주 길고 긴 두 번째 문장이 여기에 있다 " * 50


def test_pairs_get_the_token_ids_and_token_type_ids_of_full_precision(korsts_model, cache_home):
    texts, pairs, _ = sample_pairs("korsts", ["sts-test.tsv"])
    texts += [LONG_FIRST, "짧다", LONG_FIRST, unicodedata.normalize("NFD", "재밌다 ㅋㅋ"), "😀 English 123", "빈 둘째"]
    pairs += ["연기 좋음", LONG_SECOND, LONG_SECOND, unicodedata.normalize("NFD", "한글 자모"), "숫자 42 😀", ""]
    full, int8 = Predictor(korsts_model).model, Predictor(korsts_model, quantize="int8").model
    short = [int8.pair_token_ids(texts, pairs, 16), full.pair_token_ids(texts, pairs, 16)]  # a run's max_seq_len
    assert [[row.tolist() for row in ids] + firsts.tolist() for ids, firsts in short] == \
        [[row.tolist() for row in ids] + firsts.tolist() for ids, firsts in short[1:] * 2]
    assert max(len(row) for row in short[0][0]) == 16
    int8_ids, int8_firsts = int8.pair_token_ids(texts, pairs, full.max_seq_len)
    full_ids, full_firsts = full.pair_token_ids(texts, pairs, full.max_seq_len)
    assert len(int8_ids) == len(full_ids) == len(texts)
    assert all(np.array_equal(a, b) for a, b in zip(int8_ids, full_ids))
    assert int8_firsts.tolist() == full_firsts.tolist()
    # the token_type_ids the int8 model is fed are transformers' own
    input_ids, attention_mask = pad_rows(int8_ids, full.pad_token_id)
    expected = full.tokenizer(nfc(texts), nfc(pairs), truncation="longest_first", max_length=full.max_seq_len,
                              padding=True, return_tensors="np")
    assert input_ids.tolist() == expected["input_ids"].tolist()
    assert segment_ids(int8_firsts, attention_mask).tolist() == expected["token_type_ids"].tolist()
    # the long pairs were cut to max_seq_len, the longer side first: with both long, both keep half
    long_first, long_second, both_long = (len(texts) - 6, len(texts) - 5, len(texts) - 4)
    assert all(len(int8_ids[row]) == full.max_seq_len for row in (long_first, long_second, both_long))
    whole = {text: len(full.tokenizer(text)["input_ids"]) for text in ["짧다", "연기 좋음"]}  # [CLS] text [SEP]
    assert int8_firsts[long_second] == whole["짧다"]  # the short side kept whole, the long one cut
    assert len(int8_ids[long_first]) - int8_firsts[long_first] == whole["연기 좋음"] - 1
    first_part, second_part = int8_firsts[both_long] - 2, len(int8_ids[both_long]) - int8_firsts[both_long] - 1
    assert abs(first_part - second_part) <= 1


def without_segments(predictor, texts, pairs) -> np.ndarray:
    """What full precision gives when the pairs' token_type_ids are left out (all 0): what an int8 model that
    ignored them would follow, to show the comparisons below can tell."""
    ids, _ = predictor.model.pair_token_ids(texts, pairs, predictor.long_text.max_seq_len)
    batches = [pad_rows([row], predictor.model.pad_token_id) for row in ids]
    return np.concatenate(list(predictor.model.logits_in_order(batches)))


def test_int8_scores_of_a_regression_model_follow_full_precision(korsts_model, cache_home):
    texts, pairs, _ = sample_pairs("korsts", ["sts-test.tsv", "sts-dev.tsv"])
    full_predictor = Predictor(korsts_model)
    full = full_predictor.probabilities(texts, pairs)
    int8_predictor = Predictor(korsts_model, quantize="int8")
    assert int8_predictor.regression and int8_predictor.sentence_pair
    int8 = int8_predictor.probabilities(texts, pairs)
    assert int8.shape == full.shape == (len(texts), 1)
    untyped = without_segments(full_predictor, texts, pairs)
    difference = np.abs(int8 - full).max()
    correlation, untyped_correlation = (np.corrcoef(other[:, 0], full[:, 0])[0, 1] for other in (int8, untyped))
    print(f"\nkorsts int8 against fp32, {len(texts)} pairs: max |diff| {difference:.4f}, pearson {correlation:.4f} "
          f"(fp32 scores {full.min():.4f}..{full.max():.4f}; fp32 without token_type_ids: max |diff| "
          f"{np.abs(untyped - full).max():.4f}, pearson {untyped_correlation:.4f})")
    assert difference < 0.05 and correlation > 0.98
    assert untyped_correlation < 0.95  # the token_type_ids change the scores: int8 is fed them


def test_int8_classes_of_a_pair_classifier_follow_full_precision(kornli_model, cache_home):
    from koelectra_cookbook.inference.predictor import softmax

    texts, pairs, _ = sample_pairs("kornli", ["xnli.test.ko.tsv", "xnli.dev.ko.tsv"])
    full_predictor = Predictor(kornli_model)
    full = full_predictor.probabilities(texts, pairs)
    int8_predictor = Predictor(kornli_model, quantize="int8")
    assert int8_predictor.sentence_pair and not int8_predictor.regression
    int8 = int8_predictor.probabilities(texts, pairs)
    assert int8.shape == full.shape == (len(texts), 3)
    untyped = softmax(without_segments(full_predictor, texts, pairs))
    same, untyped_same = (other.argmax(1) == full.argmax(1) for other in (int8, untyped))
    print(f"\nkornli int8 against fp32, {len(texts)} pairs: max |diff| {np.abs(int8 - full).max():.4f}, same class "
          f"on {same.sum()}/{len(texts)} rows (fp32 without token_type_ids: max |diff| "
          f"{np.abs(untyped - full).max():.4f}, same class on {untyped_same.sum()}/{len(texts)})")
    assert np.abs(int8 - full).max() < 0.05 and same.mean() >= 0.95
    assert np.abs(untyped - full).max() > 0.1  # the token_type_ids change the probabilities: int8 is fed them


def read_csv_text(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_predict_py_int8_on_pairs_gives_the_full_precision_columns(korsts_model, kornli_model, cache_home,
                                                                    tmp_path, capsys):
    from koelectra_cookbook.commands.predict import main

    test_file = SAMPLES_DIR / "korsts" / "sts-test.tsv"
    argv = ["--model", str(korsts_model), "--input", str(test_file), "--text-column", "sentence1",
            "--pair-column", "sentence2", "--no-quoting"]
    capsys.readouterr()
    assert main(argv) == 0
    full = read_csv_text(capsys.readouterr().out)
    assert main([*argv, "--quantize", "int8"]) == 0
    captured = capsys.readouterr()
    int8 = read_csv_text(captured.out)
    assert "building" not in captured.err  # read from the cache
    assert list(int8[0]) == list(full[0]) == ["text", "text_pair", "prediction"] and len(int8) == len(full)
    assert [(r["text"], r["text_pair"]) for r in int8] == [(r["text"], r["text_pair"]) for r in full]
    assert [float(r["prediction"]) for r in int8] == pytest.approx([float(r["prediction"]) for r in full], abs=0.05)
    # a classifier, from tab-separated lines
    texts, pairs, _ = sample_pairs("kornli", ["xnli.test.ko.tsv"])
    lines = tmp_path / "pairs.txt"
    lines.write_text("".join(f"{a}\t{b}\n" for a, b in zip(texts[:10], pairs[:10])), encoding="utf-8")
    assert main(["--model", str(kornli_model), "--input", str(lines), "--quantize", "int8"]) == 0
    rows = read_csv_text(capsys.readouterr().out)
    assert list(rows[0]) == ["text", "text_pair", "prediction", "score"] and len(rows) == 10
    assert {r["prediction"] for r in rows} <= {"entailment", "neutral", "contradiction"}
    with pytest.raises(UserError, match="compares two texts"):
        Predictor(kornli_model, quantize="int8").probabilities(texts[:2])


def test_the_manifest_names_the_models_kind_and_an_entry_of_another_kind_is_rebuilt(korsts_model, cache_home,
                                                                                    capsys):
    from koelectra_cookbook.classifier.model_folder import read_model_folder
    from koelectra_cookbook.inference.int8.cache import cache_key, verified_manifest

    kind = read_model_folder(korsts_model).kind
    assert kind == {"sentence_pair": True, "regression": True}
    assert cache_key(korsts_model, {"sentence_pair": False, "regression": True}) != cache_key(korsts_model, kind)
    entry = entry_of(korsts_model, cache_home)
    manifest = json.loads((entry / "manifest.json").read_text())
    assert manifest["settings"]["sentence_pair"] is True and manifest["settings"]["regression"] is True
    expected = Predictor(korsts_model, quantize="int8").probabilities(["가나다"], ["라마바"])
    manifest["settings"]["sentence_pair"] = False  # files whole, but the entry of a one-text model
    (entry / "manifest.json").write_text(json.dumps(manifest))
    assert verified_manifest(entry, read_model_folder(korsts_model)) is None
    capsys.readouterr()
    predictor = Predictor(korsts_model, quantize="int8")
    err = capsys.readouterr().err
    assert "is damaged or not this model's; building it again" in err and "building the int8 model" in err
    assert predictor.sentence_pair and predictor.probabilities(["가나다"], ["라마바"]) == pytest.approx(expected,
                                                                                                   abs=1e-6)


def without_token_type_ids(onnx_file) -> None:
    """The model of `onnx_file` made to take input_ids and attention_mask only (zeros for the type ids inside), as
    an export for one text, or a crafted file, would."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(onnx_file))
    graph = model.graph
    kept = [i for i in graph.input if i.name != "token_type_ids"]
    assert len(kept) == len(graph.input) - 1
    del graph.input[:]
    graph.input.extend(kept)
    zeros = [helper.make_node("Shape", ["input_ids"], ["crafted_shape"]),
             helper.make_node("ConstantOfShape", ["crafted_shape"], ["token_type_ids"],
                              value=helper.make_tensor("value", TensorProto.INT64, [1], [0]))]
    for node in reversed(zeros):
        graph.node.insert(0, node)
    onnx.save(model, str(onnx_file))


@pytest.mark.parametrize("manifest", ["left as it was", "rewritten to match"])
def test_a_cached_pair_model_that_takes_no_token_type_ids_is_noticed(korsts_model, cache_home, tmp_path, capsys,
                                                                     manifest):
    import onnxruntime

    from koelectra_cookbook.commands.predict import main
    from koelectra_cookbook.files.checksums import file_sha256

    entry = entry_of(korsts_model, cache_home)
    onnx_file = entry / "model.int8.onnx"
    without_token_type_ids(onnx_file)
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask"]  # a model that still runs
    lines = tmp_path / "pairs.txt"
    lines.write_text("가나다\t라마바\n", encoding="utf-8")
    capsys.readouterr()
    if manifest == "left as it was":  # damaged: its checksum no longer matches, so it is built again
        assert main(["--model", str(korsts_model), "--input", str(lines), "--quantize", "int8"]) == 0
        err = capsys.readouterr().err
        assert "is damaged or not this model's; building it again" in err and "building the int8 model" in err
        session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
        return
    manifest_file = entry / "manifest.json"  # as a stranger who also rewrote the manifest would
    stored = json.loads(manifest_file.read_text())
    stored["files"]["model.int8.onnx"] = {"size": onnx_file.stat().st_size, "sha256": file_sha256(onnx_file)}
    manifest_file.write_text(json.dumps(stored))
    assert main(["--model", str(korsts_model), "--input", str(lines), "--quantize", "int8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {onnx_file}: not an int8 model of this classifier"), err
    assert "it takes input_ids, attention_mask, and this model input_ids, attention_mask, token_type_ids" in err[0]
    assert "rebuild" in err[0]
