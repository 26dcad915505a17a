"""Data files in, table or `FILE:LINE: ...` error out; then label handling, splits and the token cache.

Every test writes its own small file into tmp_path. Nothing touches the network.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from koelectra_cookbook.config.schema import build_config
from koelectra_cookbook.data.dataset import load_task_data
from koelectra_cookbook.data.readers import read_table
from koelectra_cookbook.errors import UserError

COLUMNS = ["text", "label"]


def write(path, text: str, encoding: str = "utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def read(path, fmt, columns=COLUMNS, encoding="utf-8"):
    """The table with each row's line as a last column, "line", the way these tests compare it."""
    table = read_table(path, fmt, columns, encoding)
    return table.rows.assign(line=table.lines.tolist())


def error_of(path, fmt, columns=COLUMNS, encoding="utf-8") -> str:
    with pytest.raises(UserError) as info:
        read_table(path, fmt, columns, encoding)
    return str(info.value)


# --- readers: files that read ------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t")])
def test_delimited_default_quoting_round_trips_pandas_output(tmp_path, fmt, sep):
    texts = ['그가 "좋아요, 정말" 했다', "평범한 리뷰", 'a "quoted" word']
    path = tmp_path / f"data.{fmt}"
    pd.DataFrame({"text": texts, "label": [1, 0, 1]}).to_csv(path, sep=sep, index=False)
    assert '""' in path.read_text(encoding="utf-8")  # the writer really did quote
    table = read(path, fmt)
    assert table["text"].tolist() == texts
    assert table["label"].tolist() == ["1", "0", "1"]
    assert table["line"].tolist() == [2, 3, 4]


def test_json_array(tmp_path):
    records = [{"text": "좋아요", "label": 1}, {"text": "싫어요", "label": "0"}]
    path = write(tmp_path / "data.json", json.dumps(records, ensure_ascii=False, indent=2))
    table = read(path, "json")
    assert table["text"].tolist() == ["좋아요", "싫어요"]
    assert table["label"].tolist() == ["1", "0"]
    assert table["line"].tolist() == [2, 6]  # where each object starts


def test_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = write(tmp_path / "data.jsonl",
                 '{"text": "좋아요", "label": 1}\n\n{"text": "싫어요", "label": 0}\n')
    table = read(path, "jsonl")
    assert table["text"].tolist() == ["좋아요", "싫어요"]
    assert table["line"].tolist() == [1, 3]


@pytest.mark.parametrize("fmt, content", [
    ("csv", "text,label\n좋아요,1\n"),
    ("tsv", "text\tlabel\n좋아요\t1\n"),
    ("jsonl", '{"text": "좋아요", "label": 1}\n'),
    ("json", '[{"text": "좋아요", "label": 1}]'),
])
def test_bom_is_not_part_of_the_first_column_name(tmp_path, fmt, content):
    path = write(tmp_path / f"data.{fmt}", content, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    for encoding in ("utf-8", "utf-8-sig"):
        table = read(path, fmt, encoding=encoding)
        assert list(table.columns) == ["text", "label", "line"]
        assert table["text"].tolist() == ["좋아요"]


@pytest.mark.parametrize("fmt, content", [
    ("csv", "text,label\r\n좋아요,1\r\n싫어요,0\r\n"),
    ("tsv", "text\tlabel\r\n좋아요\t1\r\n싫어요\t0\r\n"),
    ("jsonl", '{"text": "좋아요", "label": 1}\r\n{"text": "싫어요", "label": 0}\r\n'),
])
def test_crlf_line_endings(tmp_path, fmt, content):
    path = write(tmp_path / f"data.{fmt}", content)
    table = read(path, fmt)
    assert table["text"].tolist() == ["좋아요", "싫어요"]
    assert table["label"].tolist() == ["1", "0"]  # no stray "\r"
    assert table["line"].tolist() == [2, 3] if fmt != "jsonl" else [1, 2]


def test_cp949_file_reads_with_encoding_cp949(tmp_path):
    path = write(tmp_path / "data.csv", "text,label\n정말 재미있는 영화,1\n지루했다,0\n", encoding="cp949")
    table = read(path, "csv", encoding="cp949")
    assert table["text"].tolist() == ["정말 재미있는 영화", "지루했다"]


# --- readers: files that do not -----------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    message = error_of(path, "csv")
    assert str(path) in message and "not found" in message


@pytest.mark.parametrize("content", [b"", b"   \n\t\n  \r\n"])
@pytest.mark.parametrize("fmt", ["csv", "tsv", "json", "jsonl"])
def test_empty_or_whitespace_only_file(tmp_path, content, fmt):
    path = tmp_path / f"data.{fmt}"
    path.write_bytes(content)
    message = error_of(path, fmt)
    assert message.startswith(str(path)) and "empty" in message


@pytest.mark.parametrize("fmt, content", [
    ("csv", "sentence,label\n좋아요,1\n"),
    ("jsonl", '{"sentence": "좋아요", "label": 1}\n'),
])
def test_missing_column_names_it_and_lists_the_found_ones(tmp_path, fmt, content):
    path = write(tmp_path / f"data.{fmt}", content)
    message = error_of(path, fmt)
    assert message.startswith(f"{path}:1:")
    assert "'text'" in message
    assert "sentence" in message and "label" in message
    assert "line" not in message.split("columns found:")[1].split(")")[0]  # our own column is not listed


def test_ragged_tsv_row_names_its_line(tmp_path):
    path = write(tmp_path / "data.tsv", "text\tlabel\n좋아요\t1\n싫어요\t0\textra\n별로\t0\n")
    message = error_of(path, "tsv")
    assert message.startswith(f"{path}:3:")
    assert "expected 2 fields, found 3" in message


def test_a_lone_carriage_return_in_a_file_of_newlines_stays_in_its_field(tmp_path):
    # Found by the fuzz suite: a lone "\r" used to end a line, so "t\rext" became a one-column header; in a file
    # whose lines end in \n it is now a character of its field, as a .txt input reads it, and the header names it.
    path = write(tmp_path / "data.tsv", "t\rext\tlabel\n\t1\n")
    message = error_of(path, "tsv")
    assert message.startswith(f"{path}:1: no column 'text' (columns found: 't\\rext', 'label')")


def test_broken_json_names_its_line(tmp_path):
    path = write(tmp_path / "data.json",
                 '[\n  {"text": "좋아요", "label": 1},\n  {"text": "싫어요", "label": 0,,}\n]\n')
    message = error_of(path, "json")
    assert message.startswith(f"{path}:3:")
    assert "JSON" in message


def test_jsonl_with_one_broken_line_names_that_line(tmp_path):
    path = write(tmp_path / "data.jsonl",
                 '{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n{"text": "c", "label": \n'
                 '{"text": "d", "label": 0}\n')
    message = error_of(path, "jsonl")
    assert message.startswith(f"{path}:3:")


@pytest.mark.parametrize("content, found", [('{"text": "a", "label": 1}', "dict"), ('"just text"', "str"),
                                            ("42", "int")])
def test_json_that_is_not_an_array(tmp_path, content, found):
    path = write(tmp_path / "data.json", content)
    message = error_of(path, "json")
    assert message.startswith(str(path)) and "array" in message and found in message


def test_json_wrapped_in_data_key_reads(tmp_path):
    path = write(tmp_path / "data.json", '{"data": [{"text": "좋아요", "label": 1}]}')
    assert read(path, "json")["text"].tolist() == ["좋아요"]


def test_json_array_item_that_is_not_an_object(tmp_path):
    path = write(tmp_path / "data.json", '[\n  {"text": "a", "label": 1},\n  ["b", 0]\n]\n')
    message = error_of(path, "json")
    assert message.startswith(str(path))
    assert f"{path}:3:" in message
    assert "object" in message


def test_json_array_item_that_is_not_an_object_names_its_line(tmp_path):
    path = write(tmp_path / "data.json", '[\n  {"text": "a", "label": 1},\n  ["b", 0]\n]\n')
    assert error_of(path, "json").startswith(f"{path}:3:")


def test_jsonl_line_that_is_not_an_object(tmp_path):
    path = write(tmp_path / "data.jsonl", '{"text": "a", "label": 1}\n[1, 2]\n')
    assert error_of(path, "jsonl").startswith(f"{path}:2:")


def test_undecodable_bytes_name_their_line(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"text,label\ngood,1\nbad \xff\xfe here,0\n")
    message = error_of(path, "csv")
    assert message.startswith(f"{path}:3:")
    assert "utf-8" in message


def test_cp949_file_read_as_utf8_suggests_cp949(tmp_path):
    path = write(tmp_path / "data.csv", "text,label\n정말 재미있는 영화,1\n지루했다,0\n", encoding="cp949")
    message = error_of(path, "csv")
    assert message.startswith(f"{path}:2:")
    assert "data.encoding: cp949" in message


def test_unknown_encoding_is_a_user_error(tmp_path):
    path = write(tmp_path / "data.csv", "text,label\na,1\n")
    assert "data.encoding" in error_of(path, "csv", encoding="no-such-codec")


@pytest.mark.parametrize("fmt, content", [("csv", "text,label,text\na,1,b\n"), ("tsv", "text\tlabel\ttext\na\t1\tb\n")])
def test_duplicate_column_names(tmp_path, fmt, content):
    path = write(tmp_path / f"data.{fmt}", content)
    message = error_of(path, fmt)
    assert message.startswith(f"{path}:1:")
    assert "'text'" in message and "more than once" in message


# --- dataset: labels, splits, token cache --------------------------------------------------------------

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "좋", "##아", "##요", "싫", "##어", "영", "##화",
         "별", "##로"] + [str(d) for d in range(10)] + [f"##{d}" for d in range(10)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import BertTokenizer

    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return BertTokenizer(vocab=str(path), do_lower_case=False)


class CountingTokenizer:
    """Delegates to a tokenizer and counts how often it is asked to encode data (a list of texts; the one-text
    probe for the special tokens it puts around a text is not data)."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, *args, **kwargs):
        self.calls += isinstance(args[0] if args else kwargs.get("text"), list)
        return self.inner(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def make_config(tmp_path, train=None, **data):
    data_layer = {"dir": str(tmp_path), "train_file": "train.csv", "eval_file": "eval.csv",
                  "cache_dir": str(tmp_path / "cache"), "dev_split": 0, **data}
    return build_config([("test", {"task": "mytask", "model": {"max_seq_len": 16}, "data": data_layer,
                                   "train": train or {}})])


def write_csv(path, rows):
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(path, index=False)
    return path


def numbered_texts(n):
    return [f"영화 {i}" for i in range(n)]


def write_simple_files(tmp_path, n_train=20, n_eval=6):
    write_csv(tmp_path / "train.csv", [(t, i % 2) for i, t in enumerate(numbered_texts(n_train))])
    write_csv(tmp_path / "eval.csv", [(f"좋아요 {i}", i % 2) for i in range(n_eval)])


def load_error(config, tokenizer) -> str:
    with pytest.raises(UserError) as info:
        load_task_data(config, tokenizer)
    return str(info.value)


def test_mixed_type_labels_map_to_the_same_id(tmp_path, tokenizer):
    lines = ['{"text": "좋아요 1", "label": 1}', '{"text": "좋아요 2", "label": "1"}',
             '{"text": "좋아요 3", "label": "1.0"}', '{"text": "좋아요 4", "label": 1.0}',
             '{"text": "싫어 1", "label": 0}', '{"text": "싫어 2", "label": "0.0"}']
    write(tmp_path / "train.jsonl", "\n".join(lines) + "\n")
    write(tmp_path / "eval.csv", "text,label\n별로 1,1.0\n별로 2,0\n")
    data = load_task_data(make_config(tmp_path, train_file="train.jsonl"), tokenizer)
    assert data.label_names == ["0", "1"]
    assert data.train.labels.tolist() == [1, 1, 1, 1, 0, 0]
    assert data.eval.labels.tolist() == [1, 0]


def test_configured_labels_accept_ints_and_strings(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    data = load_task_data(make_config(tmp_path, labels=[1, "0"], label_names=["pos", "neg"]), tokenizer)
    assert data.label_names == ["pos", "neg"]
    assert data.train.labels.tolist() == [1, 0] * 10  # file label 0 -> id 1 ("0" is second)


def test_label_outside_the_label_set_names_file_and_line(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    write(tmp_path / "train.csv", "text,label\n좋아요,1\n싫어,0\n별로,2\n영화,1\n")
    message = load_error(make_config(tmp_path, labels=["0", "1"]), tokenizer)
    assert message.startswith(f"{tmp_path / 'train.csv'}:4:")
    assert "'2'" in message


def test_eval_label_unseen_in_train_names_eval_file_and_line(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    write(tmp_path / "eval.csv", "text,label\n좋아요,1\n싫어,neutral\n")
    message = load_error(make_config(tmp_path), tokenizer)
    assert message.startswith(f"{tmp_path / 'eval.csv'}:3:")
    assert "'neutral'" in message


def test_line_numbers_survive_blank_lines(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    write(tmp_path / "train.csv", "text,label\n좋아요,1\n\n싫어,0\n별로,2\n")
    message = load_error(make_config(tmp_path, labels=["0", "1"]), tokenizer)
    assert message.startswith(f"{tmp_path / 'train.csv'}:5:")


def test_empty_label_names_file_and_line(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    write(tmp_path / "train.csv", "text,label\n좋아요,1\n싫어,\n별로,0\n")
    message = load_error(make_config(tmp_path), tokenizer)
    assert message.startswith(f"{tmp_path / 'train.csv'}:3:") and "empty label" in message


def test_rows_with_empty_text_are_dropped_and_noted(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    write(tmp_path / "train.csv", 'text,label\n좋아요,1\n,0\n싫어,0\n"   ",1\n별로,0\n')
    data = load_task_data(make_config(tmp_path), tokenizer)
    assert data.train.texts == ["좋아요", "싫어", "별로"]
    assert data.train.labels.tolist() == [1, 0, 0]
    note = [n for n in data.notes if n.startswith("train.csv")]
    assert len(note) == 1 and "2 rows with empty text dropped" in note[0] and "3, 5" in note[0]


def test_file_where_every_text_is_empty(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    write(tmp_path / "train.csv", "text,label\n,1\n,0\n")
    message = load_error(make_config(tmp_path), tokenizer)
    assert message.startswith(str(tmp_path / "train.csv")) and "empty" in message


def test_inferred_numeric_labels_sort_as_numbers(tmp_path, tokenizer):
    write_csv(tmp_path / "train.csv", [("영화 1", 10), ("영화 2", 2), ("영화 3", 1), ("영화 4", 2)])
    write_csv(tmp_path / "eval.csv", [("영화 5", 1), ("영화 6", 10)])
    data = load_task_data(make_config(tmp_path), tokenizer)
    assert data.label_names == ["1", "2", "10"]
    assert data.train.labels.tolist() == [2, 1, 0, 1]
    assert data.eval.labels.tolist() == [0, 2]


def test_inferred_string_labels_sort_as_text(tmp_path, tokenizer):
    write_csv(tmp_path / "train.csv", [("영화 1", "positive"), ("영화 2", "negative"), ("영화 3", "neutral")])
    write_csv(tmp_path / "eval.csv", [("영화 5", "neutral")])
    data = load_task_data(make_config(tmp_path), tokenizer)
    assert data.label_names == ["negative", "neutral", "positive"]


def test_only_one_label_value_in_train(tmp_path, tokenizer):
    write_csv(tmp_path / "train.csv", [("영화 1", 1), ("영화 2", "1.0"), ("영화 3", "1")])
    write_csv(tmp_path / "eval.csv", [("영화 5", 1)])
    message = load_error(make_config(tmp_path), tokenizer)
    assert "only one label" in message


def test_missing_data_file_names_it(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    message = load_error(make_config(tmp_path, eval_file="missing.csv"), tokenizer)
    assert str(tmp_path / "missing.csv") in message and "not found" in message


def test_dev_split_holds_out_the_right_rows_and_loses_none(tmp_path, tokenizer):
    write_simple_files(tmp_path, n_train=20)
    data = load_task_data(make_config(tmp_path, dev_split=0.25), tokenizer)
    assert len(data.dev) == 5 and len(data.train) == 15
    combined = data.train.texts + data.dev.texts
    assert len(set(combined)) == len(combined)  # nothing duplicated
    assert sorted(combined) == sorted(numbered_texts(20))  # nothing lost
    # Labels and token ids travel with their texts.
    for split in (data.train, data.dev):
        for text, label, ids in zip(split.texts, split.labels, split.token_ids):
            assert label == int(text.split()[1]) % 2
            assert ids.tolist() == tokenizer(text, truncation=True, max_length=16)["input_ids"]
    assert any("dev: 5 rows" in n for n in data.notes)


def test_no_dev_split(tmp_path, tokenizer):
    write_simple_files(tmp_path, n_train=20)
    data = load_task_data(make_config(tmp_path, dev_split=0), tokenizer)
    assert data.dev is None
    assert data.train.texts == numbered_texts(20)  # file order kept


def test_dev_split_too_large_for_tiny_file(tmp_path, tokenizer):
    write_simple_files(tmp_path, n_train=2)
    message = load_error(make_config(tmp_path, dev_split=0.9), tokenizer)
    assert "dev_split" in message


def test_max_samples_cut_sizes(tmp_path, tokenizer):
    write_simple_files(tmp_path, n_train=20, n_eval=10)
    data = load_task_data(make_config(tmp_path, max_train_samples=8, max_eval_samples=3), tokenizer)
    assert len(data.train) == 8 and data.dev is None and len(data.eval) == 3
    assert set(data.train.texts) <= set(numbered_texts(20))
    data = load_task_data(make_config(tmp_path, max_train_samples=8, dev_split=0.25), tokenizer)
    assert len(data.train) == 6 and len(data.dev) == 2 and len(data.eval) == 10
    assert not set(data.train.texts) & set(data.dev.texts)
    # A limit above the file's size uses the whole file.
    data = load_task_data(make_config(tmp_path, max_train_samples=1000, max_eval_samples=1000), tokenizer)
    assert len(data.train) == 20 and len(data.eval) == 10


def test_same_seed_same_split_other_seed_other_split(tmp_path, tokenizer):
    write_simple_files(tmp_path, n_train=40)

    def dev_texts(seed):
        return load_task_data(make_config(tmp_path, dev_split=0.25, train={"seed": seed}), tokenizer).dev.texts

    assert dev_texts(1) == dev_texts(1)
    assert set(dev_texts(1)) != set(dev_texts(2))


def test_second_load_reads_the_token_cache(tmp_path, tokenizer):
    write_simple_files(tmp_path)
    config = make_config(tmp_path, dev_split=0.25)
    counting = CountingTokenizer(tokenizer)
    first = load_task_data(config, counting)
    assert counting.calls > 0
    assert list((tmp_path / "cache").glob("*.npz"))
    counting.calls = 0
    second = load_task_data(config, counting)
    assert counting.calls == 0
    for a, b in ((first.train, second.train), (first.dev, second.dev), (first.eval, second.eval)):
        assert a.texts == b.texts
        assert [x.tolist() for x in a.token_ids] == [x.tolist() for x in b.token_ids]


def test_one_cache_serves_every_max_seq_len(tmp_path, tokenizer):
    """Texts are cached whole: another max_seq_len (or long-text setting) cuts them again without tokenizing."""
    write_simple_files(tmp_path)
    counting = CountingTokenizer(tokenizer)
    load_task_data(make_config(tmp_path), counting)
    assert counting.calls > 0
    counting.calls = 0
    config = build_config([("test", {"task": "mytask", "model": {"max_seq_len": 8},
                                     "data": {"dir": str(tmp_path), "train_file": "train.csv",
                                              "eval_file": "eval.csv", "cache_dir": str(tmp_path / "cache"),
                                              "dev_split": 0}})])
    data = load_task_data(config, counting)
    assert counting.calls == 0
    assert [ids.tolist() for ids in data.train.token_ids] == tokenizer(data.train.texts, truncation=True,
                                                                         max_length=8)["input_ids"]


@pytest.mark.parametrize("damage", [
    "garbage",
    "truncated",
    "empty",
])
def test_corrupted_cache_is_rebuilt_with_a_warning(tmp_path, tokenizer, capsys, damage):
    write_simple_files(tmp_path)
    config = make_config(tmp_path)
    first = load_task_data(config, tokenizer)
    cache_files = sorted((tmp_path / "cache").glob("*.npz"))
    assert cache_files
    for path in cache_files:
        raw = path.read_bytes()
        path.write_bytes({"garbage": b"not a numpy archive at all" * 10, "truncated": raw[: len(raw) // 2],
                          "empty": b""}[damage])
    capsys.readouterr()
    counting = CountingTokenizer(tokenizer)
    second = load_task_data(config, counting)
    assert counting.calls > 0
    assert "warning: tokenized cache" in capsys.readouterr().out
    assert [x.tolist() for x in first.train.token_ids] == [x.tolist() for x in second.train.token_ids]
    # ...and the rebuilt cache is good again.
    counting.calls = 0
    load_task_data(config, counting)
    assert counting.calls == 0


def test_json_line_numbers_are_only_found_when_a_message_needs_them(tmp_path, monkeypatch):
    """Finding the line each record of a JSON array starts on means scanning its text: not done for a file that
    reads cleanly, done for one that does not."""
    from koelectra_cookbook.data import json_records

    def scan(*args):
        raise AssertionError("the text was scanned for line numbers")

    path = write(tmp_path / "data.json", '[{"text": "좋아요", "label": 1},\n {"text": "싫어요", "label": 0}]')
    monkeypatch.setattr(json_records, "_json_item_lines", scan)
    assert read_table(path, "json", COLUMNS).rows["text"].tolist() == ["좋아요", "싫어요"]
    monkeypatch.undo()
    table = read_table(path, "json", COLUMNS)
    assert table.lines.tolist() == [1, 2]
