"""Long texts (data.long_text): the rows a document becomes, what is reported as cut, and one result per document
in training, evaluation, predict.py (full precision, int8, two processes) and the model card's code."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from transformers import AutoTokenizer

from helpers import run_cli
from koelectra_cookbook.data.batching import LengthGroupedBatchSampler
from koelectra_cookbook.data.dataset import Split
from koelectra_cookbook.data.long_text import (LongText, combine, cut_report, describe_cut, document_rows,
                                               row_documents, special_tokens)
from koelectra_cookbook.data.token_cache import encode_documents
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer

LONG = ["좋은 영화 " * n + "끝" for n in (0, 3, 7, 20, 41)] + ["", "재밌다"]


def whole(tokenizer, texts):
    return encode_documents(texts, tokenizer, None)


def specials(tokenizer):
    return special_tokens(lambda text, add: tokenizer(text, add_special_tokens=add)["input_ids"])


@pytest.mark.parametrize("length, overlap", [(16, 4), (16, 0), (12, 9), (32, 8)])
def test_windows_are_the_windows_transformers_gives(tiny_model_dir, length, overlap):
    """The card tells users to window a text with return_overflowing_tokens and stride=overlap: our rows are
    exactly those, so predict.py and the card's code read a text the same way."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = [text for text in LONG if text]
    rows, starts = document_rows(whole(tokenizer, texts), *specials(tokenizer),
                                 LongText("windows", length, overlap=overlap))
    theirs = tokenizer(texts, truncation=True, max_length=length, stride=overlap, return_overflowing_tokens=True)
    owners = np.asarray(theirs["overflow_to_sample_mapping"])
    assert starts.tolist() == [0, *np.cumsum(np.bincount(owners, minlength=len(texts))).tolist()]
    assert [row.tolist() for row in rows] == theirs["input_ids"]
    assert max(len(row) for row in rows) == length and len(rows) > len(texts)


def test_truncate_and_head_tail_rows(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    documents = whole(tokenizer, LONG)
    prefix, suffix = specials(tokenizer)
    assert (prefix, suffix) == ([tokenizer.cls_token_id], [tokenizer.sep_token_id])
    truncated, starts = document_rows(documents, prefix, suffix, LongText("truncate", 16))
    assert starts is None
    assert [row.tolist() for row in truncated] == tokenizer(LONG, truncation=True, max_length=16)["input_ids"]
    head_tail, _ = document_rows(documents, prefix, suffix, LongText("head_tail", 16, head_tokens=4))
    for ids, row in zip(documents, head_tail):
        expected = ids.tolist() if len(ids) <= 14 else ids[:4].tolist() + ids[-10:].tolist()
        assert row.tolist() == [*prefix, *expected, *suffix]


def test_a_text_tokenized_in_pieces_is_the_text_tokenized_whole(tiny_model_dir):
    """Huge lines are tokenized in pieces cut at spaces (bounded memory); the ids are the same."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = ["영화가 정말 재밌다. " * 300, "가나다라마바사, " * 100, "짧다"]
    in_pieces = encode_documents(texts, tokenizer, None, pieces=37)
    assert [ids.tolist() for ids in in_pieces] == tokenizer(texts, add_special_tokens=False)["input_ids"]


def test_windows_combine_into_one_row_per_document():
    logits = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0], [2.0, 2.0]], dtype=np.float32)
    starts = np.array([0, 1, 3, 4])
    assert combine(logits, starts, "mean").tolist() == [[1.0, 0.0], [1.5, 3.5], [2.0, 2.0]]
    assert combine(logits, starts, "max").tolist() == [[1.0, 0.0], [3.0, 5.0], [2.0, 2.0]]
    assert combine(logits, None) is logits
    assert row_documents(starts).tolist() == [0, 1, 1, 2]


def test_the_report_counts_longer_texts_and_dropped_tokens():
    lengths = np.array([10, 14, 20, 0])
    truncate = cut_report(lengths, LongText("truncate", 16), 2, 4)
    assert (truncate["longer_than_max_seq_len"], truncate["tokens_dropped"], truncate["tokens"]) == (1, 6, 44)
    assert truncate["no_tokens"] == 1 and truncate["share_longer"] == 0.25
    assert "1 of 4 texts (25.0%) are longer than max_seq_len 16" in describe_cut("train", truncate, LongText("truncate", 16))
    windows = cut_report(lengths, LongText("windows", 16, overlap=4), 2, 6)
    assert windows["tokens_dropped"] == 0 and windows["rows"] == 6


def test_a_split_of_windows_keeps_each_documents_windows_together():
    split = Split("train", ["a", "b", "c"], np.array([0, 1, 0]), [np.array([i]) for i in range(6)],
                  starts=np.array([0, 1, 4, 6]), text_lengths=np.array([1, 30, 12]))
    part = split.subset(np.array([1, 2]))
    assert part.texts == ["b", "c"] and part.labels.tolist() == [1, 0]
    assert [ids.tolist() for ids in part.token_ids] == [[1], [2], [3], [4], [5]]
    assert part.starts.tolist() == [0, 3, 5] and part.text_lengths.tolist() == [30, 12]


def test_each_epoch_trains_on_at_most_k_windows_of_a_document_drawn_anew():
    documents = np.repeat(np.arange(5), [1, 6, 2, 9, 3])
    sampler = LengthGroupedBatchSampler(np.ones(len(documents)), 4, seed=1, documents=documents, per_document=2)
    seen = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        rows = [row for batch in sampler for row in batch]
        assert len(rows) == len(set(rows)) == 1 + 2 + 2 + 2 + 2 and len(list(sampler)) == len(sampler)
        assert np.bincount(documents[rows], minlength=5).tolist() == [1, 2, 2, 2, 2]
        seen.append(sorted(rows))
    assert len({tuple(rows) for rows in seen}) > 1  # another draw each epoch
    everything = LengthGroupedBatchSampler(np.ones(len(documents)), 4, seed=1, documents=documents, per_document=None)
    assert sorted(row for batch in everything for row in batch) == list(range(len(documents)))


# --- end to end: documents whose label lies past the first window ------------------------------------------------

TOPICS = {"sports": "축구 경기 골", "economy": "주식 시장 금리", "politics": "선거 국회 정당"}


def write_documents(folder: Path, count: int, seed: int) -> Path:
    """Documents of movie reviews (the nsmc sample) with their topic's words after them: past 32 tokens."""
    import random

    rng = random.Random(seed)
    with open(SAMPLES_DIR / "nsmc" / "ratings_train.txt", encoding="utf-8", newline="") as handle:
        reviews = [row["document"] for row in csv.DictReader(handle, delimiter="\t") if row["document"].strip()]
    rows = []
    for i in range(count):
        label = list(TOPICS)[i % len(TOPICS)]
        text = " ".join(rng.sample(reviews, rng.randint(5, 7)) + [TOPICS[label]] + rng.sample(reviews, 1))
        rows.append({"text": text, "label": label})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"docs-{seed}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def train_documents(tmp: Path, model: Path, mode: str) -> Path:
    config = {"task": "documents", "model": {"name_or_path": str(model), "max_seq_len": 32},
              "data": {"dir": str(tmp / "data"), "train_file": "docs-1.csv", "eval_file": "docs-2.csv",
                       "dev_split": 0, "cache_dir": str(tmp / "cache"), "long_text": mode},
              "train": {"epochs": 6, "batch_size": 16, "learning_rate": 3e-3, "num_threads": 1}}  # any load
    (tmp / f"{mode}.yaml").write_text(json.dumps(config), encoding="utf-8")
    status, run = run_cli(BeginnerTrainer, "--config", str(tmp / f"{mode}.yaml"), "--output-dir",
                          str(tmp / "runs" / mode))
    assert status == 0
    return run


@pytest.fixture(scope="module")
def documents(tmp_path_factory, tiny_model_dir) -> SimpleNamespace:
    tmp = tmp_path_factory.mktemp("documents")
    write_documents(tmp / "data", 150, seed=1)
    evaluation = write_documents(tmp / "data", 60, seed=2)
    return SimpleNamespace(windows=train_documents(tmp, tiny_model_dir, "windows"),
                           truncate=train_documents(tmp, tiny_model_dir, "truncate"), evaluation=evaluation)


def predictions(run: Path) -> list[dict]:
    csv.field_size_limit(2**31 - 1)  # a document of megabytes is one field
    with open(run / "predictions.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_windows_read_past_the_start_and_each_document_is_one_row(documents, capsys):
    windows, truncate = (json.loads((run / "results.json").read_text()) for run in
                         (documents.windows, documents.truncate))
    rows = predictions(documents.windows)
    assert len(rows) == 60 == windows["long_texts"]["eval"]["texts"]  # documents, not windows
    assert windows["long_texts"]["eval"]["rows"] > 180 and windows["long_texts"]["eval"]["tokens_dropped"] == 0
    accuracy = sum(row["label"] == row["prediction"] for row in rows) / len(rows)
    assert windows["eval"]["accuracy"] == pytest.approx(accuracy)
    assert truncate["long_texts"]["eval"]["share_of_tokens_dropped"] > 0.2
    # Accuracy on 60 documents of a tiny model moves with the thread count: the measured gain of reading whole
    # texts is in docs/benchmarks.md#long-texts. Here: what lies past the first window changes the answer.
    from koelectra_cookbook.inference.predictor import Predictor

    texts = [row["text"] for row in rows]
    start_only = Predictor(documents.windows / "model", long_text="truncate").table(texts)
    whole = Predictor(documents.windows / "model").table(texts)
    # the answers (label and its probability) change; a tiny model may give every text one label either way
    assert list(zip(start_only["prediction"], start_only["score"])) != list(zip(whole["prediction"], whole["score"]))
    config = json.loads((documents.windows / "model" / "config.json").read_text())
    assert config["long_text"] == {"mode": "windows", "max_seq_len": 32, "head_tokens": 7, "overlap": 7,
                                   "combine": "mean"}


def test_predict_reads_a_long_text_as_the_model_was_trained(documents, tmp_path, capsys):
    from koelectra_cookbook.commands import predict

    model = documents.windows / "model"
    arguments = ["--model", str(model), "--input", str(documents.evaluation), "--text-column", "text"]
    assert predict.main([*arguments, "--output", str(tmp_path / "whole.csv")]) == 0
    err = capsys.readouterr().err
    assert re.search(r"input: 60 of 60 texts \(100\.0%\) are longer than max_seq_len 32; read whole, in \d+ "
                     r"windows", err)
    ours = predictions(documents.windows)
    with open(tmp_path / "whole.csv", newline="", encoding="utf-8") as handle:
        theirs = list(csv.DictReader(handle))
    assert [row["prediction"] for row in theirs] == [row["prediction"] for row in ours]
    assert max(abs(float(a["score"]) - float(b["score"])) for a, b in zip(theirs, ours)) < 1e-4
    assert predict.main([*arguments, "--output", str(tmp_path / "start.csv"), "--long-text", "truncate"]) == 0
    assert "truncate drops the end of them" in capsys.readouterr().err
    with open(tmp_path / "start.csv", newline="", encoding="utf-8") as handle:
        start = list(csv.DictReader(handle))
    assert [(row["prediction"], row["score"]) for row in start] != [(row["prediction"], row["score"]) for row in ours]


def test_the_cards_long_text_code_gives_the_documents_prediction(documents):
    model = documents.windows / "model"
    card = (model / "README.md").read_text(encoding="utf-8")
    assert "### Long texts" in card and "return_overflowing_tokens=True" in card
    code = card.split("### Long texts", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    printed = []
    exec(re.sub(r'from_pretrained\("[^"]*"\)', f'from_pretrained("{model}")', code),
         {"print": lambda *values: printed.append(values)})
    from koelectra_cookbook.inference.predictor import Predictor

    text = quoted_text(code)
    assert len(text) > 100 and predictions(documents.windows)[0]["text"].startswith(text.removesuffix("…"))
    expected = Predictor(model).table([text])
    assert printed[0][0] == expected["prediction"][0]
    assert printed[0][1] == pytest.approx(float(expected["score"][0]), abs=1e-4)


def test_int8_gives_one_answer_per_document(documents, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    from koelectra_cookbook.inference.predictor import Predictor

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    rows = predictions(documents.windows)
    int8 = Predictor(documents.windows / "model", quantize="int8")
    assert int8.long_text.mode == "windows"
    found = int8.table([row["text"] for row in rows])
    assert len(found["prediction"]) == 60 and int8.last_cut["rows"] > 180
    agree = sum(a == row["prediction"] for a, row in zip(found["prediction"], rows))
    assert agree >= 57, agree


def test_two_processes_predict_the_windows_of_one_document_as_one_process(documents, tmp_path):
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    arguments = [str(PROJECT_ROOT / "predict.py"), "--model", str(documents.windows / "model"),
                 "--input", str(documents.evaluation), "--text-column", "text",
                 "--batch-size", "8"]  # a document's windows land in several batches
    alone = subprocess.run([sys.executable, *arguments, "--output", str(tmp_path / "one.csv")],
                           capture_output=True, text=True, env=env)
    assert alone.returncode == 0, alone.stderr[-3000:]
    shared = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", *arguments,
                             "--output", str(tmp_path / "two.csv")], capture_output=True, text=True, env=env,
                            timeout=300)
    assert shared.returncode == 0, shared.stderr[-3000:]
    assert (tmp_path / "two.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


@pytest.mark.slow
def test_two_processes_train_on_windows_and_evaluate_each_document_once(tmp_path, tiny_model_dir):
    from koelectra_cookbook.inference.predictor import Predictor

    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               str(PROJECT_ROOT / "train_expert.py"), "--config", str(PROJECT_ROOT / "config" / "petitions.yaml"),
               "--output-dir", str(tmp_path / "runs"), "--set", f"data.dir={SAMPLES_DIR / 'petitions'}",
               "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", f"model.name_or_path={tiny_model_dir}",
               "--set", "model.max_seq_len=64", "--set", "train.epochs=1", "--set", "train.batch_size=16",
               "--set", "data.windows_per_document=2"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = next((tmp_path / "runs" / "petitions").iterdir())
    rows = predictions(run)
    assert len(rows) == 140
    expected = Predictor(run / "model").table([row["text"] for row in rows])
    assert [row["prediction"] for row in rows] == expected["prediction"]
    assert max(abs(float(row["score"]) - float(score)) for row, score in zip(rows, expected["score"])) < 1e-4


def test_training_texts_that_tokenize_to_nothing_are_dropped_and_counted(tmp_path, tiny_model_dir, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("text,label\n좋다,1\n\ufffd,0\n싫다,0\n나쁘다,0\n", encoding="utf-8")
    (tmp_path / "data" / "eval.csv").write_text("text,label\n좋다,1\n\u00ad,0\n", encoding="utf-8")
    config = tmp_path / "my.yaml"
    config.write_text(json.dumps({"task": "mine", "model": {"name_or_path": str(tiny_model_dir)},
                                  "data": {"dir": str(tmp_path / "data"), "train_file": "train.csv",
                                           "eval_file": "eval.csv", "dev_split": 0,
                                           "cache_dir": str(tmp_path / "cache"), "long_text": "windows"},
                                  "train": {"epochs": 1, "batch_size": 2}}), encoding="utf-8")
    status, run = run_cli(BeginnerTrainer, "--config", str(config), "--output-dir", str(tmp_path / "runs"))
    out = capsys.readouterr().out
    assert status == 0
    assert "task mine: 3 train, 0 dev, 2 eval rows" in out
    assert "train: 1 texts that tokenize to nothing dropped" in out
    assert "eval: 1 texts tokenize to nothing" in out
    assert len(predictions(run)) == 2  # an evaluation row is never dropped


def test_a_line_of_megabytes_is_read_in_pieces_and_trains_on_a_few_of_its_windows(tmp_path, tiny_model_dir,
                                                                                  capsys):
    """One 1.5 MB document among short ones: tokenized in 10,000-character pieces (bounded memory), trained on
    two of its windows an epoch (data.windows_per_document), evaluated whole as one row."""
    (tmp_path / "data").mkdir()
    huge = "정말 좋은 영화 추천합니다 " * 100_000
    (tmp_path / "data" / "train.csv").write_text(f"text,label\n{huge},1\n좋다,1\n싫다,0\n별로,0\n", encoding="utf-8")
    (tmp_path / "data" / "eval.csv").write_text(f"text,label\n{huge},1\n싫다,0\n", encoding="utf-8")
    config = tmp_path / "my.yaml"
    config.write_text(json.dumps({"task": "mine", "model": {"name_or_path": str(tiny_model_dir), "max_seq_len": 64},
                                  "data": {"dir": str(tmp_path / "data"), "train_file": "train.csv",
                                           "eval_file": "eval.csv", "dev_split": 0, "cache_dir": str(tmp_path / "c"),
                                           "long_text": "windows", "windows_per_document": 2},
                                  "train": {"epochs": 1, "batch_size": 2, "eval_batch_size": 256}}), encoding="utf-8")
    status, run = run_cli(BeginnerTrainer, "--config", str(config), "--output-dir", str(tmp_path / "runs"))
    assert status == 0
    results = json.loads((run / "results.json").read_text())
    assert results["long_texts"]["train"]["rows"] > 10_000  # its windows, all kept for evaluation
    assert "3 optimizer steps" in capsys.readouterr().out  # 2 + 3 windows an epoch, in batches of 2
    assert len(predictions(run)) == 2


def test_the_page_gives_one_answer_per_document_and_says_how_it_reads_one(documents):
    gradio = pytest.importorskip("gradio")
    from koelectra_cookbook.app import page as app
    from koelectra_cookbook.inference.predictor import Predictor

    model = documents.windows / "model"
    predictor = Predictor(model)
    page = app.ModelPage(gradio, predictor, model, max_upload_bytes=2**20, max_upload_rows=100)
    try:
        first = predictions(documents.windows)[0]
        scores = page.classify(first["text"])
        assert max(scores, key=scores.get) == first["prediction"]
        assert scores[first["prediction"]] == pytest.approx(float(first["score"]), abs=1e-4)
    finally:
        page.close()
    summary = app.summary_markdown(model, predictor.label_names, predictor.thresholds, False,
                                   long_text=predictor.long_text)
    assert "**a longer text**: read whole, in windows of 32 tokens, one answer from the mean of theirs" in summary


def test_a_sweep_may_search_the_long_text_setting():
    from koelectra_cookbook.config.schema import build_config
    from koelectra_cookbook.errors import UserError
    from koelectra_cookbook.experiments.sweep_space import check_space

    base = build_config([("test", {"task": "mine", "data": {"dir": "x"}})])
    assert check_space({"data.long_text": ["truncate", "windows"]}, base, "my.yaml") == \
        {"data.long_text": ["truncate", "windows"]}
    with pytest.raises(UserError, match="data.long_text must be truncate, head_tail, windows"):
        check_space({"data.long_text": ["truncate", "sliding"]}, base, "my.yaml")


def test_the_cards_head_tail_code_reads_what_predict_reads(documents):
    """The card of a head_tail model: its code, run on a saved model, gives predict.py --long-text head_tail."""
    from koelectra_cookbook.inference.predictor import Predictor
    from koelectra_cookbook.runs.card_usage import long_text_section

    model = documents.windows / "model"
    text = predictions(documents.windows)[0]["text"]
    settings = LongText("head_tail", 32, head_tokens=7, overlap=7)
    data = SimpleNamespace(long_text=settings, train=SimpleNamespace(pairs=None),
                           special_tokens=(["[CLS]"], ["[SEP]"]),
                           cut={"train": cut_report(np.array([100, 10]), settings, 2, 2)})
    lines = long_text_section(str(model), text, data, multi_label=False, regression=False)
    assert "1 of the 2 training texts (50.0%) were longer than 32 tokens" in lines[2]
    code = "\n".join(lines).split("```python", 1)[1].split("```", 1)[0]
    printed = []
    exec(code, {"print": lambda *values: printed.append(values)})
    table = Predictor(model, long_text="head_tail").table([quoted_text(code)])
    assert printed[0][0] == table["prediction"][0]
    assert printed[0][1] == pytest.approx(float(table["score"][0]), abs=1e-4)


def quoted_text(code: str) -> str:
    """The text a card's code reads (the first evaluation text, cut to 200 characters)."""
    return json.loads(re.search(r"^text = (.*)$", code, re.MULTILINE).group(1))
