"""Fuzzing the data readers: whatever the bytes, reading gives the right table or a UserError naming the file.

The contract under test (readers.py, errors.py): `read_table` either returns the columns asked for, as strings,
with each row's physical `line`, or raises UserError whose message starts with `PATH:` (and `PATH:LINE:` where a
line is to blame). Any other exception is a bug. The same holds through `load_task_data`, which adds label
mapping and the "label outside data.labels" error naming its line.

Property-based with hypothesis. Each example writes into its own `tempfile.TemporaryDirectory()`: pytest's
function-scoped tmp_path would be shared by all the examples of one test call. Section 7 keeps the bugs this
suite once found, each with a strategy that always hits it.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from koelectra_cookbook.config.schema import build_config, normalize_label
from koelectra_cookbook.data.dataset import load_task_data
from koelectra_cookbook.data.readers import read_table
from koelectra_cookbook.errors import UserError

COLUMNS = ["text", "label"]
FORMATS = ["csv", "tsv", "json", "jsonl"]
SEPARATORS = {"csv": ",", "tsv": "\t"}
BOM = b"\xef\xbb\xbf"
# Characters str.splitlines() breaks at besides \r and \n. To CSV and JSON they are ordinary characters.
UNICODE_LINE_BREAKS = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

# database=None: no example database, so every run is a fresh search. (Hypothesis still creates .hypothesis/ for
# its caches; that folder carries its own .gitignore.)
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
MEDIUM = settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# For inputs of a megabyte or nested thousands deep: a few examples each.
FEW = settings(max_examples=5, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# --- writing files ---------------------------------------------------------------------------------------

def csv_line(fields, sep: str, newline: str = "\n") -> str:
    """One row as Python's csv module writes it with default quoting (QUOTE_MINIMAL).

    The writer's own terminator is "\\r\\n", so any field holding \\r or \\n gets quoted; it is swapped for
    `newline` afterwards, which makes LF files as safe as CRLF ones."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=sep).writerow([str(f) for f in fields])
    return buffer.getvalue()[:-2] + newline


def render(fmt: str, rows, *, newline: str = "\n", gaps=None, blank: str = "", lead: int = 0, trail: int = 0,
           layout: str = "plain", header=COLUMNS) -> tuple[str, list[int]]:
    """A file of (text, label) rows in `fmt`, and the physical line (counting "\\n") each row starts on.

    gaps[i] blank lines (each `blank`) go before row i; `lead`/`trail` blank lines before the header / at the end.
    JSON labels keep their Python type (1, 1.0, "1"); delimited files write str(label).
    layout (json only): "plain" one item per line, "indent" json.dumps(indent=2) items, "wrapper" {"data": [...]}.
    """
    gaps = gaps or [0] * len(rows)
    parts, starts = [], []
    line = 1

    def add(piece: str) -> None:
        nonlocal line
        parts.append(piece)
        line += piece.count("\n")

    for _ in range(lead):
        add(blank + newline)
    if fmt in SEPARATORS:
        add(csv_line(header, SEPARATORS[fmt], newline))
    elif fmt == "json":
        add(('{"data": [' if layout == "wrapper" else "[") + newline)
    for i, (text, label) in enumerate(rows):
        for _ in range(gaps[i]):
            add(blank + newline)
        starts.append(line)
        if fmt in SEPARATORS:
            add(csv_line([text, label], SEPARATORS[fmt], newline))
        else:
            item = json.dumps({"text": text, "label": label}, ensure_ascii=False,
                              indent=2 if layout == "indent" else None)
            comma = "," if fmt == "json" and i < len(rows) - 1 else ""
            add(item.replace("\n", newline) + comma + newline)
    if fmt == "json":
        add(("]}" if layout == "wrapper" else "]") + newline)
    for _ in range(trail):
        add(blank + newline)
    return "".join(parts), starts


def write(directory: str, name: str, text: str, encoding: str = "utf-8", bom: bool = False) -> Path:
    path = Path(directory) / name
    path.write_bytes((BOM if bom else b"") + text.encode(encoding))
    return path


# --- checking the contract ---------------------------------------------------------------------------------

def line_bound(raw: bytes) -> int:
    """No line number a reader reports can be past the file's last line, however lines are counted."""
    return len(raw.decode("utf-8", "replace").splitlines()) + 1


def read_checked(path: Path, fmt: str, encoding: str = "utf-8"):
    """read_table held to its contract. Returns (table, None) or (None, message); any exception other than
    UserError propagates and fails the test."""
    bound = line_bound(path.read_bytes())
    try:
        read = read_table(path, fmt, COLUMNS, encoding)
        table = read.rows.assign(line=read.lines.tolist())  # each row's line as a last column, as compared here
    except UserError as exc:
        message = str(exc)
        event(f"UserError: {' '.join(re.sub(r'[0-9]+', 'N', message.removeprefix(str(path))).split()[:4])[:48]}")
        assert message.startswith(f"{path}:"), f"UserError does not start with the path: {message!r}"
        named = re.match(re.escape(str(path)) + r":(\d+):", message)
        if named:
            assert 1 <= int(named.group(1)) <= bound, f"line out of range (file has {bound}): {message!r}"
        return None, message
    event("read a table")
    assert list(table.columns) == [*COLUMNS, "line"], list(table.columns)
    for column in COLUMNS:
        assert all(isinstance(value, str) for value in table[column]), (column, table[column].tolist())
    lines = table["line"].tolist()
    assert all(isinstance(n, int) and 1 <= n <= bound for n in lines), (lines, bound)
    assert lines == sorted(lines), lines
    return table, None


def expect_error(path: Path, fmt: str, line: int | None = None, encoding: str = "utf-8") -> str:
    table, message = read_checked(path, fmt, encoding)
    assert message is not None, f"expected a UserError, read {table.to_dict('records')}"
    if line is not None:
        assert message.startswith(f"{path}:{line}:"), message
    return message


def expect_table(path: Path, fmt: str, encoding: str = "utf-8"):
    table, message = read_checked(path, fmt, encoding)
    assert message is None, message
    return table


def check_rows(table, rows, starts=None) -> None:
    """Texts (stripped, as dataset does) and normalised labels equal what was written; lines when known."""
    assert [t.strip() for t in table["text"]] == [str(t).strip() for t, _ in rows]
    assert [normalize_label(v) for v in table["label"]] == [normalize_label(v) for _, v in rows]
    if starts is not None:
        assert table["line"].tolist() == starts


# --- strategies ----------------------------------------------------------------------------------------------

LABELS = [1, 0, "1", "0", "1.0", " 1 ", "pos", "neg", 1.0, " pos ", "0.0"]
any_text = st.text(max_size=40)
# No line break of any kind inside a field: each row is exactly one physical line.
one_line_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n" + UNICODE_LINE_BREAKS),
                        max_size=40)
nonblank_one_line_text = one_line_text.filter(lambda s: s.strip())
# A small alphabet for tests that build rows by hand: no quoting surprises, never blank.
SAFE = list("abcxyz 가나다라영화좋아요 0123.!?")
safe_text = st.text(st.sampled_from(SAFE), min_size=1, max_size=12).filter(lambda s: s.strip())


def text_for(fmt: str):
    # JSONL texts avoid U+2028 & co.: the JSONL reader splits on them (test_jsonl_unicode_line_separators_...).
    return one_line_text if fmt == "jsonl" else any_text


def has_line_break(text: str) -> bool:
    return any(c in "\r\n" + UNICODE_LINE_BREAKS for c in str(text))


# --- 1. random bytes --------------------------------------------------------------------------------------

GARBAGE_TOKENS = [b",", b"\t", b'"', b"\n", b"\r\n", b"\r", b" ", b"{", b"}", b"[", b"]", b":", b'"text"',
                  b'"label"', b"text", b"label", b'"data"', b"1", b"0", b"1.0", b"-", b"e9", b"null", b"true",
                  b"NaN", b"\\", b"\\u", b"\\ud800", BOM, b"\xff", b"\xfe", b"\x00", b"\x1a", b"#",
                  "한국어".encode(), "한국어".encode("cp949"), "\u2028".encode(), b"\x0c", b"\x85"]
structured_garbage = st.lists(st.sampled_from(GARBAGE_TOKENS) | st.binary(max_size=3), max_size=120).map(b"".join)
GOOD_STARTS = {"csv": b"text,label\n", "tsv": b"text\tlabel\n", "json": b'[{"text": "a", "label": 1},\n',
               "jsonl": b'{"text": "a", "label": 1}\n'}


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=400) | st.text(max_size=200).map(str.encode) | structured_garbage,
       good_start=st.booleans())
def test_random_bytes_read_or_user_error(fmt, raw, good_start):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"data.{fmt}"
        path.write_bytes((GOOD_STARTS[fmt] if good_start else b"") + raw)
        read_checked(path, fmt)


@st.composite
def corrupted_file(draw, fmt: str) -> bytes:
    """A valid file with one to three byte-level edits: truncation, deletion, insertion, overwrite."""
    rows = draw(st.lists(st.tuples(any_text, st.sampled_from(LABELS)), min_size=1, max_size=6))
    text, _ = render(fmt, rows, newline=draw(st.sampled_from(["\n", "\r\n"])),
                     layout=draw(st.sampled_from(["plain", "indent", "wrapper"])))
    raw = bytearray(text.encode())
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        edit = draw(st.sampled_from(["truncate", "delete", "insert", "overwrite"]))
        if edit == "truncate":
            del raw[at:]
        elif edit == "delete":
            del raw[at: at + draw(st.integers(1, 8))]
        else:
            piece = draw(st.sampled_from([t for t in GARBAGE_TOKENS if b"text" not in t and b"label" not in t])
                         | st.binary(min_size=1, max_size=3))
            raw[at: at + (len(piece) if edit == "overwrite" else 0)] = piece
    return bytes(raw)


@pytest.mark.parametrize("fmt", FORMATS)
@FAST
@given(data=st.data())
def test_corrupted_valid_files_read_or_user_error(fmt, data):
    raw = data.draw(corrupted_file(fmt))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"data.{fmt}"
        path.write_bytes(raw)
        read_checked(path, fmt)


# --- 2. valid rows round-trip ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@FAST
@given(data=st.data(), newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_valid_rows_round_trip(fmt, data, newline, bom):
    rows = data.draw(st.lists(st.tuples(text_for(fmt), st.sampled_from(LABELS)), min_size=1, max_size=12))
    layout = data.draw(st.sampled_from(["plain", "indent", "wrapper"])) if fmt == "json" else "plain"
    text, starts = render(fmt, rows, newline=newline, layout=layout)
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, f"data.{fmt}", text, bom=bom), fmt)
    # Lines are checked where they are well defined: one physical line per row, and not the {"data": [...]}
    # wrapper (test_json_data_wrapper_line_numbers).
    lines_known = layout != "wrapper" and (fmt not in SEPARATORS or not any(has_line_break(t) for t, _ in rows))
    check_rows(table, rows, starts if lines_known else None)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@FAST
@given(rows=st.lists(st.tuples(any_text, st.sampled_from(LABELS)), min_size=1, max_size=12),
       newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_delimited_round_trip_keeps_text_exactly(fmt, rows, newline, bom):
    """Stronger than stripped: quoting keeps every character of a field, spaces and quotes included."""
    text, _ = render(fmt, rows, newline=newline)
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, f"data.{fmt}", text, bom=bom), fmt)
    assert table["text"].tolist() == [t for t, _ in rows]
    assert table["label"].tolist() == [str(v) for _, v in rows]


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "좋", "##아", "##요", "싫", "##어", "영", "##화", "별",
         "##로", "가", "나", "다", "라", "a", "b", "c", "x", "y", "z"] + [str(d) for d in range(10)]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import BertTokenizer

    path = tmp_path_factory.mktemp("fuzz-vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return BertTokenizer(vocab=str(path), do_lower_case=False)


def make_config(directory: str, fmt: str, labels=None):
    data = {"dir": directory, "train_file": f"train.{fmt}", "eval_file": f"eval.{fmt}", "dev_split": 0,
            "cache_dir": str(Path(directory) / "cache"), "download": False}
    if labels is not None:
        data["labels"] = labels
    return build_config([("fuzz", {"task": "fuzztask", "model": {"max_seq_len": 16}, "data": data})])


def inferred_label_order(values) -> list[str]:
    """DataConfig.labels' documented default: the sorted values found in train, numerically when numbers."""
    found = sorted(set(values))
    try:
        found.sort(key=float)
    except ValueError:
        pass
    return found


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data(), newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_load_task_data_maps_mixed_type_labels(tokenizer, fmt, data, newline, bom):
    rows = data.draw(st.lists(st.tuples(text_for(fmt), st.sampled_from(LABELS)), min_size=2, max_size=10))
    kept = [(t.strip(), normalize_label(v)) for t, v in rows if t.strip()]
    # a training text the tokenizer turns into nothing (an ESC alone) teaches nothing: dropped; evaluation keeps it
    learnt = [(t, v) for t, v in kept
              if tokenizer(unicodedata.normalize("NFC", t), add_special_tokens=False)["input_ids"]]
    assume(len({v for _, v in learnt}) >= 2)
    configured = data.draw(st.none() | st.permutations([1, "0", "pos", " neg"]))
    eval_rows = rows[::-1]
    with tempfile.TemporaryDirectory() as d:
        write(d, f"train.{fmt}", render(fmt, rows, newline=newline)[0], bom=bom)
        write(d, f"eval.{fmt}", render(fmt, eval_rows, newline=newline)[0], bom=bom)
        result = load_task_data(make_config(d, fmt, configured), tokenizer)
    names = [normalize_label(v) for v in configured] if configured else inferred_label_order(v for _, v in kept)
    assert result.label_names == names
    assert result.train.texts == [t for t, _ in learnt]
    assert result.train.labels.tolist() == [names.index(v) for _, v in learnt]
    assert result.eval.texts == [t for t, _ in kept][::-1]
    assert result.eval.labels.tolist() == [names.index(v) for _, v in kept][::-1]
    assert result.dev is None


# --- 3. Korean legacy encodings ------------------------------------------------------------------------

def is_hangul(c: str) -> bool:
    return "\uac00" <= c <= "\ud7a3"


def _in_ks_x_1001(c: str) -> bool:
    """One of the 2,350 precomposed syllables of EUC-KR. (Python's euc_kr codec writes the others as 8-byte jamo
    sequences, which CP949 reads back as separate jamo: not a round trip.)"""
    return len(c.encode("euc_kr")) == 2


ALL_HANGUL = st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3)  # all 11,172: CP949 (UHC) has them all
EUC_KR_HANGUL = st.sampled_from([chr(c) for c in range(0xAC00, 0xD7A4) if _in_ks_x_1001(chr(c))])  # 2,350
KOREAN_EXTRAS = st.sampled_from(list(' abc123.,!?"'))


def korean_text(hangul):
    return st.text(hangul | KOREAN_EXTRAS, min_size=1, max_size=20).filter(
        lambda s: s.strip() and any(is_hangul(c) for c in s))


def first_bad_utf8_line(raw: bytes) -> int:
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return number
    raise AssertionError("file is valid UTF-8")


@pytest.mark.parametrize("file_encoding, read_encoding", [("cp949", "cp949"), ("euc_kr", "euc-kr"),
                                                          ("euc_kr", "cp949")])
@pytest.mark.parametrize("fmt", FORMATS)
@MEDIUM
@given(data=st.data(), newline=st.sampled_from(["\n", "\r\n"]))
def test_korean_legacy_encodings(fmt, file_encoding, read_encoding, data, newline):
    hangul = ALL_HANGUL if file_encoding == "cp949" else EUC_KR_HANGUL
    rows = data.draw(st.lists(st.tuples(korean_text(hangul), st.sampled_from([0, 1, "pos"])), min_size=1,
                              max_size=8))
    text, starts = render(fmt, rows, newline=newline)
    raw = text.encode(file_encoding)
    try:
        raw.decode("utf-8")
        assume(False)  # by chance also valid UTF-8 (a few syllables' bytes are): nothing to detect
    except UnicodeDecodeError:
        pass
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"data.{fmt}"
        path.write_bytes(raw)
        message = expect_error(path, fmt, line=first_bad_utf8_line(raw), encoding="utf-8")
        assert "cp949" in message.lower(), message
        table = expect_table(path, fmt, encoding=read_encoding)
    assert table["text"].tolist() == [t for t, _ in rows]
    check_rows(table, rows, starts)


# --- 4. ragged rows, huge lines, duplicate columns, blank lines ---------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@FAST
@given(rows=st.lists(st.tuples(safe_text, st.sampled_from([0, 1, "pos"]), st.sampled_from([-1, 0, 0, 0, 1, 2]),
                               st.lists(safe_text | st.just(""), min_size=2, max_size=2), st.integers(0, 2)),
                     min_size=1, max_size=10),
       newline=st.sampled_from(["\n", "\r\n"]))
def test_ragged_rows(fmt, rows, newline):
    """Missing fields read as ""; extra fields are an error naming the first such row's line."""
    # An extra field in the first data row has a test of its own (test_extra_fields_in_the_first_row...).
    rows = [(t, v, min(extra, 0) if i == 0 else extra, pad, gap) for i, (t, v, extra, pad, gap) in enumerate(rows)]
    sep = SEPARATORS[fmt]
    parts, starts, line = [csv_line(COLUMNS, sep, newline)], [], 2
    for text, label, extra, pad, gap in rows:
        parts.append(newline * gap)
        line += gap
        starts.append(line)
        fields = [text] if extra < 0 else [text, label, *pad[:extra]]
        parts.append(csv_line(fields, sep, newline))
        line += 1
    with tempfile.TemporaryDirectory() as d:
        path = write(d, f"data.{fmt}", "".join(parts))
        bad = [(start, extra) for start, (_, _, extra, _, _) in zip(starts, rows) if extra > 0]
        if bad:
            message = expect_error(path, fmt, line=bad[0][0])
            assert f"expected 2 fields, found {2 + bad[0][1]}" in message
        else:
            table = expect_table(path, fmt)
            assert table["text"].tolist() == [t for t, *_ in rows]
            assert table["label"].tolist() == ["" if extra < 0 else str(v) for _, v, extra, _, _ in rows]
            assert table["line"].tolist() == starts


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=5, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(piece=st.sampled_from(["a", "가", '"', ",", "\t", " x", "{}"]), ragged_after=st.booleans())
def test_a_one_megabyte_field(fmt, piece, ragged_after):
    if fmt == "csv" and piece == "\t":
        piece = "x\t"  # an unquoted field of only whitespace: test_a_megabyte_of_unquoted_leading_whitespace
    huge = piece * (1_000_000 // len(piece))
    rows = [("짧은 글", 0), (huge, 1), ("끝", "pos")]
    text, starts = render(fmt, rows)
    with tempfile.TemporaryDirectory() as d:
        if ragged_after and fmt in SEPARATORS:
            text += csv_line(["하나", 1, "둘"], SEPARATORS[fmt])  # line 5: one field too many
            expect_error(write(d, f"data.{fmt}", text), fmt, line=5)
            return
        table = expect_table(write(d, f"data.{fmt}", text), fmt)
    assert table["text"].tolist() == [t for t, _ in rows]
    check_rows(table, rows, starts)


@pytest.mark.parametrize("fmt, blank", [("csv", " "), ("csv", "\t"), ("tsv", " ")])
@FEW
@given(size=st.integers(300_000, 1_000_000), suffix=st.sampled_from(["", "abc"]))
def test_a_megabyte_of_unquoted_leading_whitespace(fmt, blank, size, suffix):
    rows = [("짧은 글", 0), (blank * size + suffix, 1), ("끝", "pos")]
    text, _ = render(fmt, rows)
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, f"data.{fmt}", text), fmt)
    assert [len(t) for t in table["text"]] == [len(t) for t, _ in rows]


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@FAST
@given(extra=st.lists(st.sampled_from(["text", "label", "other", "note"]), min_size=1, max_size=3),
       data=st.data())
def test_duplicate_column_names_are_an_error_on_line_1(fmt, extra, data):
    header = data.draw(st.permutations(COLUMNS + extra))
    duplicated = {name for name in header if header.count(name) > 1}
    assume(duplicated)
    rows = data.draw(st.lists(st.lists(safe_text, min_size=len(header), max_size=len(header)), max_size=4))
    sep = SEPARATORS[fmt]
    with tempfile.TemporaryDirectory() as d:
        path = write(d, f"data.{fmt}", "".join(csv_line(r, sep) for r in [header, *rows]))
        message = expect_error(path, fmt, line=1)
    named = re.search(r"column '(\w+)' appears more than once", message)
    assert named and named.group(1) in duplicated, message


@pytest.mark.parametrize("fmt", FORMATS)
@FAST
@given(rows=st.lists(st.tuples(nonblank_one_line_text, st.sampled_from(LABELS)), min_size=1, max_size=8),
       data=st.data(), newline=st.sampled_from(["\n", "\r\n"]))
def test_blank_lines_between_rows_are_skipped_and_lines_still_right(fmt, rows, data, newline):
    gaps = data.draw(st.lists(st.integers(0, 3), min_size=len(rows), max_size=len(rows)))
    # A tab-only line in TSV is a row of empty fields to pandas, not a blank line (test_tab_only_line_in_tsv...).
    blank = data.draw(st.sampled_from(["", " ", "   "] + (["\t"] if fmt != "tsv" else [])))
    lead = data.draw(st.integers(0, 2)) if fmt != "json" else 0
    trail = data.draw(st.integers(0, 2))
    text, starts = render(fmt, rows, newline=newline, gaps=gaps, blank=blank, lead=lead, trail=trail)
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, f"data.{fmt}", text), fmt)
    check_rows(table, rows, starts)


# --- 5. JSON: non-object items, nested values -------------------------------------------------------------

json_scalar = st.none() | st.booleans() | st.integers(-10**6, 10**6) | \
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) |
                          st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
non_object = json_value.filter(lambda v: not isinstance(v, dict))
# "text" never numeric: a number beside a missing/null text is read as a float (test_json_numbers_beside_...).
text_value = st.text(max_size=12) | st.none() | st.booleans() | st.lists(json_value, max_size=3) | \
    st.dictionaries(st.text(max_size=5), json_value, max_size=3)
label_value = st.sampled_from(LABELS) | st.integers(-1000, 1000) | st.none() | st.lists(json_scalar, max_size=2)
record = st.fixed_dictionaries({}, optional={"text": text_value, "label": label_value, "extra": json_value})


def as_text(value) -> str:
    """How a JSON value reads: null and a missing key as "", lists and objects as compact JSON (where no text or
    label is read from them), else str()."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@FAST
@given(items=st.lists(record, max_size=8), data=st.data(), newline=st.sampled_from(["\n", "\r\n"]))
def test_json_items_non_objects_and_nested_values(fmt, items, data, newline):
    if data.draw(st.integers(0, 2)) == 0:  # a third of the files hold one item that is not an object
        items = [*items]
        items.insert(data.draw(st.integers(0, len(items))), data.draw(non_object))
    gaps = data.draw(st.lists(st.integers(0, 2), min_size=len(items), max_size=len(items)))
    blank = data.draw(st.sampled_from(["", " ", "\t"]))
    parts, starts, line = (["[" + newline], [], 2) if fmt == "json" else ([], [], 1)
    for i, item in enumerate(items):
        parts.append((blank + newline) * gaps[i])
        line += gaps[i]
        starts.append(line)
        comma = "," if fmt == "json" and i < len(items) - 1 else ""
        parts.append(json.dumps(item, ensure_ascii=False).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
                     .replace("\x85", "\\u0085") + comma + newline)
        line += 1
    if fmt == "json":
        parts.append("]" + newline)
    text = "".join(parts)
    with tempfile.TemporaryDirectory() as d:
        path = write(d, f"data.{fmt}", text)
        if not text.strip():
            expect_error(path, fmt)
            return
        # The first item that is not an object, or holds a list or an object where a text or a label is read.
        bad = [(start, "expected a JSON object" if not isinstance(item, dict) else "expected a label")
               for start, item in zip(starts, items)
               if not isinstance(item, dict) or any(isinstance(item.get(c), (list, dict)) for c in COLUMNS)]
        if bad:
            assert bad[0][1] in expect_error(path, fmt, line=bad[0][0])
        elif not items:
            assert "no records" in expect_error(path, fmt)
        elif not all(any(column in item for item in items) for column in COLUMNS):
            assert "no column" in expect_error(path, fmt, line=1)
        else:
            table = expect_table(path, fmt)
            assert table["text"].tolist() == [as_text(item.get("text")) for item in items]
            assert [normalize_label(v) for v in table["label"]] == \
                [normalize_label(as_text(item.get("label"))) for item in items]
            assert table["line"].tolist() == starts


@FAST
@given(value=json_value.filter(lambda v: not isinstance(v, list) and
                               not (isinstance(v, dict) and isinstance(v.get("data"), list))))
def test_json_top_level_not_an_array(value):
    with tempfile.TemporaryDirectory() as d:
        path = write(d, "data.json", json.dumps(value, ensure_ascii=False))
        assert "expected a JSON array" in expect_error(path, "json", line=1)


# --- 6. labels outside data.labels: the error names the row's physical line --------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
@FAST
@given(rows=st.lists(st.tuples(nonblank_one_line_text, st.sampled_from([0, 1, "0", "1.0", " 1 "])), min_size=1,
                     max_size=8),
       data=st.data(), newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_label_outside_the_label_set_names_its_physical_line(tokenizer, fmt, rows, data, newline, bom):
    at = data.draw(st.integers(0, len(rows)))
    bad_label = data.draw(st.sampled_from(["2", "pos", 7, "1.5", "-1", "nan", " 01x"]))
    bad_text = data.draw(nonblank_one_line_text)
    rows = [*rows[:at], (bad_text, bad_label), *rows[at:]]
    in_eval = data.draw(st.booleans())
    gaps = data.draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows))) \
        if fmt != "json" else None
    good = [("영화", 0), ("좋아요", 1)]
    bad_file = f"{'eval' if in_eval else 'train'}.{fmt}"
    good_file = f"{'train' if in_eval else 'eval'}.{fmt}"
    with tempfile.TemporaryDirectory() as d:
        text, starts = render(fmt, rows, newline=newline, gaps=gaps)
        path = write(d, bad_file, text, bom=bom)
        write(d, good_file, render(fmt, good, newline=newline)[0])
        with pytest.raises(UserError) as info:
            load_task_data(make_config(d, fmt, labels=["0", "1"]), tokenizer)
    message = str(info.value)
    assert message.startswith(f"{path}:{starts[at]}: label {normalize_label(bad_label)!r} is not in the label set"), \
        message


# --- 7. cases that were bugs once: each strategy always hits what went wrong --------------------------------

@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@FAST
@given(rows=st.lists(st.tuples(safe_text, st.sampled_from([0, 1])), min_size=1, max_size=5),
       extra=st.lists(safe_text, min_size=1, max_size=2))
def test_extra_fields_in_the_first_row_are_an_error(fmt, rows, extra):
    sep = SEPARATORS[fmt]
    lines = [csv_line(COLUMNS, sep), csv_line([*rows[0], *extra], sep)] + [csv_line(r, sep) for r in rows[1:]]
    with tempfile.TemporaryDirectory() as d:
        path = write(d, f"data.{fmt}", "".join(lines))
        assert f"expected 2 fields, found {2 + len(extra)}" in expect_error(path, fmt, line=2)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@FAST
@given(name=st.sampled_from(COLUMNS), pad=st.sampled_from([" {}", "{} ", "  {}  "]), data=st.data())
def test_duplicate_column_names_differing_by_spaces_are_an_error(fmt, name, pad, data):
    header = data.draw(st.permutations(COLUMNS + [pad.format(name)]))
    with tempfile.TemporaryDirectory() as d:
        path = write(d, f"data.{fmt}", csv_line(header, SEPARATORS[fmt]) + csv_line(["a", "1", "b"], SEPARATORS[fmt]))
        assert "more than once" in expect_error(path, fmt, line=1)


@FAST
@given(name=st.sampled_from(COLUMNS), pad=st.sampled_from([" {}", "{} "]))
def test_duplicate_padded_column_through_load_task_data_is_a_user_error(tokenizer, name, pad):
    header = ["text", "label", pad.format(name)]
    rows = [("영화", 0, 1), ("좋아요", 1, 0)]
    with tempfile.TemporaryDirectory() as d:
        for file_name in ("train.csv", "eval.csv"):
            write(d, file_name, "".join(csv_line(r, ",") for r in [header, *rows]))
        with pytest.raises(UserError) as info:
            load_task_data(make_config(d, "csv"), tokenizer)
    assert str(info.value).startswith(f"{Path(d) / 'train.csv'}:1:"), str(info.value)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@FEW
@given(depth=st.integers(2_000, 100_000), opener=st.sampled_from(["[", '{"a": ', '[{"text": ']),
       closed=st.booleans())
def test_deeply_nested_json_is_a_user_error(fmt, depth, opener, closed):
    closer = {"[": "]", '{"a": ': "}", '[{"text": ': "}]"}[opener]
    text = opener * depth + ("1" + closer * depth if closed else "")
    with tempfile.TemporaryDirectory() as d:
        expect_error(write(d, f"data.{fmt}", text), fmt)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@FEW
@given(digits=st.integers(4_301, 20_000), where=st.sampled_from(["text", "label"]))
def test_huge_json_integer_is_a_user_error_or_text(fmt, digits, where):
    number = "9" * digits
    item = {"text": '"a"', "label": "1"} | {where: number}
    line = "{" + ", ".join(f'"{k}": {v}' for k, v in item.items()) + "}"
    with tempfile.TemporaryDirectory() as d:
        read_checked(write(d, f"data.{fmt}", f"[{line}]" if fmt == "json" else line + "\n"), fmt)


@FAST
@given(rows=st.lists(st.tuples(one_line_text, st.sampled_from([0, 1])), max_size=4), data=st.data())
def test_jsonl_unicode_line_separators_inside_strings_round_trip(rows, data):
    # json.dumps escapes the C0 ones (\x0b, \x0c, \x1c-\x1e) but writes these three raw, as JSON allows.
    odd = data.draw(st.tuples(one_line_text, st.sampled_from("\x85\u2028\u2029"), one_line_text))
    rows = [*rows, ("".join(odd), 1)]
    text, starts = render("jsonl", rows)  # json.dumps(ensure_ascii=False) leaves these characters raw
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, "data.jsonl", text), "jsonl")
    check_rows(table, rows, starts)


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
@FAST
@given(rows=st.lists(st.tuples(safe_text, st.sampled_from([0, 1])), min_size=1, max_size=5),
       break_char=st.sampled_from(UNICODE_LINE_BREAKS), suffix=safe_text, data=st.data())
def test_delimited_line_numbers_ignore_unicode_line_separators(fmt, rows, break_char, suffix, data):
    at = data.draw(st.integers(0, len(rows)))
    rows = [*rows[:at], (break_char + suffix, 1), *rows[at:]]  # one physical line; splitlines sees two
    text, starts = render(fmt, rows)
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, f"data.{fmt}", text), fmt)
    check_rows(table, rows, starts)


@FAST
@given(rows=st.lists(st.tuples(one_line_text, st.sampled_from([0, 1])), min_size=1, max_size=6))
def test_json_data_wrapper_line_numbers(rows):
    text, starts = render("json", rows, layout="wrapper")
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, "data.json", text), "json")
    check_rows(table, rows, starts)


@FAST
@given(before=st.lists(st.tuples(safe_text, st.sampled_from([0, 1])), min_size=1, max_size=3),
       after=st.lists(st.tuples(safe_text, st.sampled_from([0, 1])), min_size=1, max_size=3))
def test_tab_only_line_in_tsv_keeps_line_numbers(before, after):
    rows = [*before, *after]
    gaps = [0] * len(before) + [1] + [0] * (len(after) - 1)
    text, starts = render("tsv", rows, gaps=gaps)  # one "" line before the first `after` row ...
    text = text.replace("\n\n", "\n\t\n\n", 1)  # ... and a tab-only line just before it
    starts = starts[: len(before)] + [s + 1 for s in starts[len(before):]]
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, "data.tsv", text), "tsv")
    real = table[table["text"] != ""]
    check_rows(real, rows, starts)


@FAST
@given(number=st.integers(-10**6, 10**6) | st.integers(2**53, 2**60).map(lambda n: n | 1),
       where=st.sampled_from(COLUMNS), hole=st.sampled_from(["missing", "null"]))
def test_json_numbers_beside_a_missing_value_read_as_written(number, where, hole):
    other = {"text": "b", "label": 0}
    if hole == "missing":
        del other[where]
    else:
        other[where] = None
    records = [{"text": "a", "label": 1} | {where: number}, other]
    with tempfile.TemporaryDirectory() as d:
        table = expect_table(write(d, "data.json", json.dumps(records)), "json")
    assert table[where].tolist()[0] == str(number)


@FAST
@given(number=st.integers(2**53, 2**60).map(lambda n: n | 1))
def test_normalize_label_keeps_big_integers(number):
    assert normalize_label(str(number)) == str(number)
