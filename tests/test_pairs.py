"""Sentence pairs and regression: files read as the published datasets are, pairs encoded as the tokenizer means
them (token_type_ids included), scores trained with one output, and the run's outputs keep both texts."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from scipy import stats
from transformers import AutoTokenizer

from conftest import SHARED_DATA, requires_shared_data
from helpers import run_cli
from koelectra_cookbook.classifier.metrics import regression_metrics
from koelectra_cookbook.data.batching import PaddingCollator, SplitDataset
from koelectra_cookbook.data.dataset import Split
from koelectra_cookbook.data.readers import read_table
from koelectra_cookbook.data.token_cache import encode_documents, encode_rows
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.expert import ExpertTrainer


def test_a_tsv_without_quoting_keeps_a_stray_quote_as_text(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text('sentence1\tsentence2\tgold_label\n그는 "안녕\t인사했다\tentailment\n둘째\t줄\tneutral\n',
                    encoding="utf-8")
    table, _ = read_table(path, "tsv", ["sentence1", "sentence2", "gold_label"], quoting=False)
    assert table["sentence1"].tolist() == ['그는 "안녕', "둘째"]


@requires_shared_data("korsts/sts-train.tsv", "kornli/xnli.dev.ko.tsv", "klue-sts/klue-sts-v1.1_dev.json")
@pytest.mark.parametrize("relative, columns, rows", [
    ("korsts/sts-train.tsv", ["sentence1", "sentence2", "score"], 5_749),
    ("korsts/sts-dev.tsv", ["sentence1", "sentence2", "score"], 1_500),
    ("korsts/sts-test.tsv", ["sentence1", "sentence2", "score"], 1_379),
    ("kornli/xnli.dev.ko.tsv", ["sentence1", "sentence2", "gold_label"], 2_490),
    ("kornli/xnli.test.ko.tsv", ["sentence1", "sentence2", "gold_label"], 5_010),
])
def test_the_real_pair_files_give_their_published_row_counts(relative, columns, rows):
    table, _ = read_table(SHARED_DATA / relative, "tsv", columns, quoting=False)
    assert len(table) == rows


@requires_shared_data("klue-sts/klue-sts-v1.1_dev.json")
def test_a_nested_json_field_is_a_column():
    path = SHARED_DATA / "klue-sts" / "klue-sts-v1.1_dev.json"
    table, _ = read_table(path, "json", ["sentence1", "labels.real-label", "labels.binary-label"])
    records = json.loads(path.read_text(encoding="utf-8"))
    assert len(table) == 519
    assert [float(v) for v in table["labels.real-label"]] == [r["labels"]["real-label"] for r in records]


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_pairs_are_encoded_and_padded_as_the_tokenizer_does(tokenizer, tmp_path):
    """Ids and token_type_ids of a collated batch equal transformers' own pair encoding, the longer text cut first."""
    texts = ["영화가 정말 재미있었다", "배우들 연기가 미쳤음 " * 20, "짧다"]
    pairs = ["재미있는 영화", "연기 좋음", "아주 길고 긴 두 번째 문장이 여기에 있다 " * 10]
    ids, firsts = encode_rows(texts, pairs, tokenizer, 32, tmp_path / "cache")
    expected = tokenizer(texts, pairs, truncation="longest_first", max_length=32, padding=True, return_tensors="np")
    split = Split("eval", texts, np.zeros(3, dtype=np.int64), ids, pairs, firsts)
    batch = PaddingCollator(tokenizer.pad_token_id)([SplitDataset(split)[i] for i in range(3)])
    assert batch["input_ids"].tolist() == expected["input_ids"].tolist()
    assert batch["token_type_ids"].tolist() == expected["token_type_ids"].tolist()
    assert batch["attention_mask"].tolist() == expected["attention_mask"].tolist()
    assert max(len(row) for row in ids) == 32
    # read back from the cache: the same ids and segment lengths; single texts are cached apart
    again, firsts_again = encode_rows(texts, pairs, tokenizer, 32, tmp_path / "cache")
    assert [a.tolist() for a in again] == [a.tolist() for a in ids] and firsts_again.tolist() == firsts.tolist()
    single, no_firsts = encode_rows(texts, None, tokenizer, 32, tmp_path / "cache")
    assert no_firsts is None and single[0].tolist() != ids[0].tolist()
    assert len(list((tmp_path / "cache").glob("tokens-*.npz"))) == 2


def test_a_damaged_segment_length_in_the_cache_is_rebuilt(tokenizer, tmp_path, capsys):
    texts, pairs = ["가나다", "라마바"], ["사아", "자차"]
    ids, firsts = encode_rows(texts, pairs, tokenizer, 16, tmp_path)
    [cache] = tmp_path.glob("tokens-*.npz")
    with np.load(cache) as stored:
        parts = dict(stored)
    parts["first_lengths"] = np.array([99, 1], dtype=np.int32)  # longer than the row
    np.savez(cache, **parts)
    again, firsts_again = encode_rows(texts, pairs, tokenizer, 16, tmp_path)
    assert firsts_again.tolist() == firsts.tolist() and "does not match the data" in capsys.readouterr().out


ENCODERS = {  # each way the token cache is keyed: whole documents, rows cut to 16 tokens, sentence pairs
    "documents": lambda texts, tokenizer, cache: encode_documents(texts, tokenizer, cache),
    "rows": lambda texts, tokenizer, cache: encode_rows(texts, None, tokenizer, 16, cache)[0],
    "pairs": lambda texts, tokenizer, cache: encode_rows(texts[:1], texts[1:], tokenizer, 16, cache)[0],
}


@pytest.mark.parametrize("encoding", ENCODERS)
@pytest.mark.parametrize("separator", ["\0", "\1"])  # what the texts used to be joined with (NUL passes readers)
def test_datasets_that_join_to_the_same_characters_never_share_a_cache_file(tokenizer, tmp_path, encoding,
                                                                              separator):
    encode = ENCODERS[encoding]
    first, second = [f"가나{separator}다라", "마바"], ["가나", f"다라{separator}마바"]
    encode(first, tokenizer, tmp_path)
    from_cache = encode(second, tokenizer, tmp_path)  # a hit on the first dataset's file would give its ids
    assert [row.tolist() for row in from_cache] == [row.tolist() for row in encode(second, tokenizer, None)]
    assert len(list(tmp_path.glob("tokens-*.npz"))) == 2


def test_a_tokenizer_that_cuts_from_the_left_never_reads_rows_cut_from_the_right(tokenizer, tiny_model_dir, tmp_path):
    left = AutoTokenizer.from_pretrained(tiny_model_dir, truncation_side="left")
    texts, pairs = ["영화가 정말 재미있었다 " * 10], ["배우들 연기가 미쳤음 " * 10]
    right_ids = encode_rows(texts, pairs, tokenizer, 16, tmp_path)[0]
    left_ids = encode_rows(texts, pairs, left, 16, tmp_path)[0]
    assert [row.tolist() for row in left_ids] == [row.tolist() for row in encode_rows(texts, pairs, left, 16, None)[0]]
    assert left_ids[0].tolist() != right_ids[0].tolist()


def test_regression_metrics_are_scipys_and_binary_f1_cuts_both_sides():
    gold = np.array([0.0, 1.0, 2.5, 3.0, 4.2, 5.0])
    predicted = np.array([0.5, 0.8, 3.1, 2.9, 4.0, 4.4])
    got = regression_metrics(gold, predicted, ["pearson", "spearman", "mse", "binary_f1"], threshold=3.0)
    assert got["pearson"] == pytest.approx(stats.pearsonr(gold, predicted)[0])
    assert got["spearman"] == pytest.approx(stats.spearmanr(gold, predicted)[0])
    assert got["mse"] == pytest.approx(np.mean((gold - predicted) ** 2))
    # gold >= 3: rows 3, 4, 5; predicted >= 3: rows 2, 4, 5 -> precision 2/3, recall 2/3
    assert got["binary_f1"] == pytest.approx(2 / 3)
    assert regression_metrics(gold, np.full(6, 2.0), ["pearson"])["pearson"] == 0.0  # constant: no correlation


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pair_run(tmp_path, model_dir, trainer, task, *extra):
    status, run = run_cli(trainer, "--task", task, "--output-dir", str(tmp_path / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / task}", "--set", f"data.cache_dir={tmp_path / 'cache'}",
                          "--set", f"model.name_or_path={model_dir}", "--set", "train.max_steps=8",
                          "--set", "train.learning_rate=1e-3", "--set", "data.download=false", *extra)
    assert status == 0
    return run


def test_a_regression_run_on_pairs_saves_scores_both_texts_and_a_scatter(tmp_path, tiny_model_dir):
    run = pair_run(tmp_path, tiny_model_dir, ExpertTrainer, "korsts")
    rows = read_csv(run / "predictions.csv")
    with open(SAMPLES_DIR / "korsts" / "sts-test.tsv", encoding="utf-8") as handle:
        test = [line.rstrip("\n").split("\t") for line in handle][1:]
    assert list(rows[0]) == ["text", "text_pair", "label", "prediction"] and len(rows) == len(test)
    assert [(r["text"], r["text_pair"], float(r["label"])) for r in rows] == [(t[5], t[6], float(t[4])) for t in test]
    predicted = np.array([float(r["prediction"]) for r in rows])
    assert np.isfinite(predicted).all() and np.ptp(predicted) > 0  # numbers, not class names
    results = json.loads((run / "results.json").read_text())
    gold = np.array([float(r["label"]) for r in rows])
    # predictions.csv holds 6 decimals of scores a barely trained model keeps close together: a little slack
    assert results["eval"]["pearson"] == pytest.approx(stats.pearsonr(gold, predicted)[0], abs=0.02)
    assert results["eval"]["mse"] == pytest.approx(np.mean((gold - predicted) ** 2), rel=1e-3)
    assert "dev" in results  # chosen on the official dev file
    config = json.loads((run / "model" / "config.json").read_text())
    assert config["problem_type"] == "regression" and len(config["id2label"]) == 1
    assert (run / "plots" / "predicted_scores.png").stat().st_size > 5000


def test_a_classification_run_on_pairs_reads_two_training_files_and_keeps_both_texts(tmp_path, tiny_model_dir):
    run = pair_run(tmp_path, tiny_model_dir, BeginnerTrainer, "kornli")
    rows = read_csv(run / "predictions.csv")
    assert list(rows[0]) == ["text", "text_pair", "label", "prediction", "score"] and len(rows) == 90
    assert {r["prediction"] for r in rows} <= {"entailment", "neutral", "contradiction"}
    card = (run / "model" / "README.md").read_text()
    assert "`multinli.train.ko.tsv`, `snli_1.0_train.ko.tsv`, 300 rows" in card
    assert (run / "plots" / "confusion_matrix.png").is_file()


def test_predict_py_gives_a_pair_model_the_runs_own_scores_and_refuses_one_text(tmp_path, tiny_model_dir, capsys):
    """predict.py on the evaluation file reproduces the run's predictions.csv, from two named columns or from a
    text file of tab-separated pairs; one text for a pair model is one error line (int8: test_int8_pairs.py)."""
    from koelectra_cookbook.commands import predict

    run = pair_run(tmp_path, tiny_model_dir, ExpertTrainer, "korsts", "--set", "model.max_seq_len=16")
    saved = read_csv(run / "predictions.csv")
    test_file = SAMPLES_DIR / "korsts" / "sts-test.tsv"
    capsys.readouterr()
    assert predict.main(["--model", str(run / "model"), "--input", str(test_file), "--text-column", "sentence1",
                         "--pair-column", "sentence2", "--no-quoting", "--output", str(tmp_path / "a.csv")]) == 0
    by_columns = read_csv(tmp_path / "a.csv")
    assert [(r["text"], r["text_pair"]) for r in by_columns] == [(r["text"], r["text_pair"]) for r in saved]
    assert [float(r["prediction"]) for r in by_columns] == pytest.approx([float(r["prediction"]) for r in saved],
                                                                       abs=1e-5)
    lines = tmp_path / "pairs.txt"
    lines.write_text("".join(f"{r['text']}\t{r['text_pair']}\n" for r in saved[:5]), encoding="utf-8")
    assert predict.main(["--model", str(run / "model"), "--input", str(lines), "--output", str(tmp_path / "b.csv")]) == 0
    assert [r["prediction"] for r in read_csv(tmp_path / "b.csv")] == [r["prediction"] for r in by_columns[:5]]
    capsys.readouterr()
    one_text = tmp_path / "one.txt"
    one_text.write_text("첫 줄\t둘째\n탭이 없는 줄\n", encoding="utf-8")
    for argv, expected in [
            (["--input", str(one_text)], f"{one_text}:2: a sentence-pair model needs two texts a line"),
            (["--input", str(test_file), "--text-column", "sentence1", "--no-quoting"], "needs both --text-column")]:
        assert predict.main(["--model", str(run / "model"), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err


def test_a_model_trained_from_a_pair_model_says_only_what_its_own_run_did(tmp_path, tiny_model_dir, capsys):
    """A base checkpoint's config.json carries its run's keys (here a pair model's, with windows and thresholds);
    a single-text model fine-tuned from it is saved with its own run's keys, and predict.py reads one text a line."""
    import shutil

    from koelectra_cookbook.commands import predict

    base = shutil.copytree(tiny_model_dir, tmp_path / "pair-model")
    config = json.loads((base / "config.json").read_text())
    config.update(sentence_pair=True, thresholds=[0.1, 0.9],
                  long_text={"mode": "windows", "max_seq_len": 32, "head_tokens": 0, "overlap": 8, "combine": "max"})
    (base / "config.json").write_text(json.dumps(config))
    run = pair_run(tmp_path, base, BeginnerTrainer, "nsmc")
    saved = json.loads((run / "model" / "config.json").read_text())
    assert saved["sentence_pair"] is False and "thresholds" not in saved
    assert saved["long_text"]["mode"] == "truncate" and saved["long_text"]["max_seq_len"] != 32
    (tmp_path / "one.txt").write_text("정말 재밌다\n최악\n", encoding="utf-8")
    capsys.readouterr()
    assert predict.main(["--model", str(run / "model"), "--input", str(tmp_path / "one.txt")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_a_pair_model_laid_out_as_the_hub_cache_links_its_files_reads_pairs(tmp_path, tiny_model_dir, capsys):
    """The Hub's cache keeps a model's files as links into a blobs folder; predict.py reads such a pair model's
    config.json as the Predictor does, through the links."""
    from helpers import classifier_with_a_decided_head
    from koelectra_cookbook.commands import predict

    blobs = classifier_with_a_decided_head(tiny_model_dir, tmp_path / "blobs")
    config = json.loads((blobs / "config.json").read_text())
    (blobs / "config.json").write_text(json.dumps({**config, "sentence_pair": True}))
    linked = tmp_path / "snapshot"
    linked.mkdir()
    for file in blobs.iterdir():
        (linked / file.name).symlink_to(file)
    (tmp_path / "pairs.txt").write_text("좋다\t좋아\n", encoding="utf-8")
    (tmp_path / "pairs.csv").write_text("a,b\n좋다,좋아\n", encoding="utf-8")
    capsys.readouterr()
    assert predict.main(["--model", str(linked), "--input", str(tmp_path / "pairs.txt")]) == 0
    from_lines = capsys.readouterr().out
    assert predict.main(["--model", str(linked), "--input", str(tmp_path / "pairs.csv"), "--text-column", "a",
                         "--pair-column", "b"]) == 0
    assert capsys.readouterr().out == from_lines and from_lines.startswith("text,text_pair,")
