"""Read CSV, TSV, JSON and JSONL files into a table of strings, or fail with `FILE:LINE: what is wrong`.

Everything is read as text: label values are normalised later, so 1, "1" and "1.0" mean the same label.
Delimited files are read with Python's csv module (quoting as pandas and spreadsheets write it), which knows
the physical line every row starts on, quoted fields spanning lines included.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import json
import math
import sys
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from koelectra_cookbook.errors import UserError, shown

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".json": "json", ".jsonl": "jsonl"}


class RowLines:
    """The physical line each row of a table starts on, computed only when first asked for (finding the
    lines of a JSON array means scanning its text, which costs more than parsing it)."""

    def __init__(self, compute: Callable[[], Sequence[int]]):
        self._compute = compute
        self._lines: np.ndarray | None = None

    def _all(self) -> np.ndarray:
        if self._lines is None:
            self._lines = np.asarray(self._compute(), dtype=np.int64)
        return self._lines

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def tolist(self) -> list[int]:
        return self._all().tolist()


class Table(NamedTuple):
    """The columns asked for, as strings (a missing value is ""), and where each row starts in the file."""

    rows: pd.DataFrame
    lines: RowLines


def detect_format(path: Path, configured: str | None,
                  remedy: str = "set data.format to csv, tsv, json or jsonl") -> str:
    """The configured format, or the one the file extension implies."""
    if configured:
        return configured
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UserError(f"{path}: cannot tell the format from the extension {path.suffix!r}; {remedy}") from None


def read_table(path: Path, fmt: str, columns: list[str], encoding: str = "utf-8",
               encoding_option: str = "data.encoding", text_column: str | None = None,
               list_column: str | None = None, quoting: bool = True) -> Table:
    """Read `columns` of a data file as strings, or raise UserError naming the file and, where one is to
    blame, the line. Column names are compared in NFC, however the file or the config composes their Hangul.

    In JSON, `text_column` must hold strings and `list_column` (multi-label) lists of names; every other
    column scalars; a column `a.b` is field b of the object in field a. `encoding_option` is what the user
    sets to change the encoding (for messages). `quoting` false: in CSV/TSV a quote is a plain character
    (files written without quoting, whose texts hold an unbalanced `"`).
    """
    raw = read_bytes(path)
    if not raw.strip():
        raise UserError(f"{path}: file is empty")
    text = decode(path, raw, encoding, encoding_option)
    if fmt in ("csv", "tsv"):
        table, lines = _read_delimited(path, text, "," if fmt == "csv" else "\t", quoting)
    else:
        table, lines = _read_json_records(path, text, fmt, columns, text_column, list_column)
    table.columns = [unicodedata.normalize("NFC", str(c)) for c in table.columns]
    columns = [unicodedata.normalize("NFC", c) for c in columns]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        found = ", ".join(shown(c, 40) for c in list(table.columns)[:20])
        close = difflib.get_close_matches(missing[0], [str(c) for c in table.columns], n=1, cutoff=0.5)
        hint = f"; did you mean {shown(close[0], 40)}?" if close else ""
        raise UserError(f"{path}:1: no column {missing[0]!r} (columns found: {found}"
                        f"{', ...' if len(table.columns) > 20 else ''}){hint}")
    return Table(table[columns], lines)


def read_bytes(path: Path) -> bytes:
    """A file's bytes; anything but a regular file (a folder, a pipe, a device) is refused, not read."""
    try:
        if not path.is_file():
            raise UserError(f"{path}: {'not a regular file' if path.exists() else 'file not found'}")
        if path.stat().st_size == 0:  # also what /proc files report, some of which never end: not read at all
            raise UserError(f"{path}: file is empty")
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def decode(path: Path | str, raw: bytes, encoding: str, encoding_option: str = "data.encoding") -> str:
    """The text of a file's bytes; bytes that do not decode are an error naming the line, with a hint when the
    file is CP949 (what older Korean Windows software writes)."""
    in_config = encoding_option.startswith("data.")
    setting = f"set {encoding_option}: cp949" if in_config else f"pass {encoding_option} cp949"
    try:
        text = raw.decode(encoding)
    except LookupError:
        prefix = "config: " if in_config else ""
        raise UserError(f"{prefix}{encoding_option} {encoding!r} is not an encoding Python knows") from None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = ""
        if encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig"):
            try:
                raw.decode("cp949")
                hint = f"; it decodes as CP949/EUC-KR: {setting}"
            except UnicodeDecodeError:
                pass
        raise UserError(f"{path}:{line}: bytes that are not valid {encoding}{hint}") from None
    return text.removeprefix("\ufeff")  # a BOM is not part of the first column's name


# --- CSV and TSV ---------------------------------------------------------------------------------------------

def _read_delimited(path: Path, text: str, sep: str, quoting: bool = True) -> tuple[pd.DataFrame, RowLines]:
    rows, starts = _rows_and_starts(path, text, sep, quoting)
    while rows and _whitespace_only(rows[0]):  # blank lines before the header
        rows, starts = rows[1:], starts[1:]
    if not rows:
        raise UserError(f"{path}: file is empty")
    header = [unicodedata.normalize("NFC", name.strip()) for name in rows[0]]
    repeated = next((name for name in header if name and header.count(name) > 1), None)
    if repeated is not None:
        raise UserError(f"{path}:{starts[0]}: column {shown(repeated, 40)} appears more than once")
    width = len(header)
    if width > 1:  # whitespace alone on a line cannot be a row of several columns: a blank line
        kept = [i for i, row in enumerate(rows) if i == 0 or not _whitespace_only(row)]
        rows, starts = [rows[i] for i in kept], [starts[i] for i in kept]
    if len(rows) == 1:
        raise UserError(f"{path}: no rows after the header")
    for row, start in zip(rows[1:], starts[1:]):
        if len(row) > width:  # never shift the columns: say where
            raise UserError(f"{path}:{start}: expected {width} fields, found {len(row)}")
    # A short row's missing fields read as "" (spreadsheets drop trailing empty fields). Columns without a name
    # (spreadsheets' trailing empty cells) are never read, so they may repeat.
    import pandas as pd  # here, not at the top: predict.py reads .txt files without it

    table = pd.DataFrame({name: [row[i] if i < len(row) else "" for row in rows[1:]] for i, name in
                          enumerate(header) if name}, dtype=object)
    return table, RowLines(lambda: starts[1:])


def _whitespace_only(row: list[str]) -> bool:
    return len(row) == 1 and not row[0].strip()


def _rows_and_starts(path: Path, text: str, sep: str, quoting: bool = True) -> tuple[list[list[str]], list[int]]:
    """Every row but empty lines, and the physical line it starts on. A line ends at \n, \r\n or a lone \r."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True,
                        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE)
    rows, starts = [], []
    with _no_field_size_limit():
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    raise UserError(f"{path}:{start}: a quoted field is never closed") from None
                raise UserError(f"{path}:{reader.line_num}: malformed quoting ({exc}); a field that starts with a "
                                f"quote must end with one, with the quotes inside doubled") from None
            if row:
                rows.append(row)
                starts.append(start)
    return rows, starts


@contextlib.contextmanager
def _no_field_size_limit():
    """The csv module refuses fields over 128 KiB by default; a long review is not an error."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


# --- JSON and JSONL ------------------------------------------------------------------------------------------

def _read_json_records(path: Path, text: str, fmt: str, columns: list[str], text_column: str | None,
                       list_column: str | None) -> tuple[pd.DataFrame, RowLines]:
    if fmt == "jsonl":
        records, numbers = [], []
        for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may sit in a string
            if line.strip():
                records.append(_parse_json(path, line, number))
                numbers.append(number)
        lines = RowLines(lambda: numbers)
    else:
        records = _parse_json(path, text, 1)
        item_depth = 1
        if isinstance(records, dict) and isinstance(records.get("data"), list):
            records, item_depth = records["data"], 2  # {"data": [...]} is a common wrapper
        if not isinstance(records, list):
            kind = "dict" if isinstance(records, dict) else type(records).__name__
            raise UserError(f"{path}:1: expected a JSON array of objects, found a {kind}")
        lines = RowLines(lambda: _json_item_lines(text, len(records), item_depth))
    if not records:
        raise UserError(f"{path}: no records")
    kinds = {name: "scalar" for name in columns} | {text_column: "text", list_column: "list"}
    nested = any("." in name for name in columns)
    rows = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise UserError(f"{path}:{lines[index]}: expected a JSON object, found "
                            f"{json.dumps(record, ensure_ascii=False)[:60]}")
        if record.repeated is not None:
            raise UserError(f"{path}:{lines[index]}: key {shown(record.repeated, 40)} appears more than once")
        row = {}
        for key, value in (_flattened(record) if nested else record.items()):
            name = unicodedata.normalize("NFC", key)  # keys from macOS (NFD) and Windows (NFC) files are one key
            if name in row:
                raise UserError(f"{path}:{lines[index]}: key {shown(name, 40)} appears twice (composed and "
                                f"decomposed Hangul)")
            try:
                row[name] = _as_text(value, kinds.get(name))
            except ValueError as problem:
                raise UserError(f"{path}:{lines[index]}: {problem}") from None
        rows.append(row)
    import pandas as pd

    table = pd.DataFrame.from_records(rows).fillna("")
    return table, lines


def _flattened(record: dict, prefix: str = "", depth: int = 0):
    """(key, value) of a record and, for an object value, of its fields as `key.field` (KLUE-STS keeps its
    scores in `labels.real-label`), up to three levels down."""
    for key, value in record.items():
        name = prefix + str(key)
        yield name, value
        if isinstance(value, dict) and depth < 2:
            yield from _flattened(value, name + ".", depth + 1)


class _Record(dict):
    """A JSON object that remembers a key it had twice (json keeps the last value silently)."""

    repeated: str | None = None


def _record(pairs: list[tuple[str, object]]) -> _Record:
    record = _Record(pairs)
    if len(record) < len(pairs):
        seen = set()
        record.repeated = next(key for key, _ in pairs if key in seen or seen.add(key))
    return record


def _parse_json(path: Path, text: str, first_line: int):
    try:
        return json.loads(text, object_pairs_hook=_record)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{first_line + _line_at(text, exc.pos) - 1}: broken JSON: {exc.msg}") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, a number too long to convert
        raise UserError(f"{path}:{first_line}: unreadable JSON: {' '.join(str(exc).split())[:120]}") from None


def _line_at(text: str, position: int) -> int:
    """The line of `position`, lines ending at \n, \r\n or a lone \r (as for the CSV reader)."""
    return text.count("\n", 0, position) + text.count("\r", 0, position) - text.count("\r\n", 0, position) + 1


def _json_item_lines(text: str, count: int, item_depth: int = 1) -> list[int]:
    """Line where each record starts: the items of the top-level array (item_depth 1), or of the array under
    the top-level key "data" (item_depth 2, the {"data": [...]} wrapper). Found by scanning the text outside
    strings; lines end at \n, \r\n or a lone \r."""
    lines, depth, line, in_string, escaped, expecting_item = [], 0, 1, False, False, False
    string_start, last_string, key, previous = 0, "", None, ""
    for index, char in enumerate(text):
        if char == "\n" and previous != "\r" or char == "\r":
            line += 1
        previous = char
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
                last_string = text[string_start + 1: index]
            continue
        if depth == item_depth and expecting_item and not char.isspace() and char not in ",]":
            lines.append(line)
            expecting_item = False
        if char == '"':
            in_string, string_start = True, index
        elif char == ":" and depth == 1:
            key = last_string  # the key of the value that follows, in the top-level object
        elif char in "[{":
            depth += 1
            expecting_item = depth == item_depth and char == "[" and (item_depth == 1 or key == "data")
        elif char in "]}":
            depth -= 1
            if depth < item_depth:
                expecting_item = False
        elif char == "," and depth == item_depth and (item_depth == 1 or key == "data"):
            expecting_item = True
    return (lines + [line] * count)[:count]


def _as_text(value, kind: str | None) -> str:
    """A JSON value as the text a delimited file would hold. `kind` is what the column is read as: "text" (a
    string), "list" (a list of label names, or one name), "scalar" (a label) or None (a column nobody reads).
    Raises ValueError for a value its column cannot mean: a number as the text, an object as a label, an
    infinite number, a lone surrogate."""
    if value is None:
        return ""
    if kind == "text" and not isinstance(value, str):
        raise ValueError(f"the text must be a string, found {shown(value, 60)}")
    if kind == "list" and isinstance(value, list):
        if not all(isinstance(item, (str, int)) and not isinstance(item, bool) for item in value):
            raise ValueError(f"a list of label names must hold names, found {shown(value, 60)}")
        return json.dumps([_checked_text(str(item)) for item in value], ensure_ascii=False)
    if isinstance(value, (list, dict)):
        if kind is not None:
            raise ValueError(f"expected a label, found {shown(value, 60)}")
        return json.dumps(value, ensure_ascii=False)  # a column nobody reads
    if kind is not None and isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"a number that is not finite ({value})")
    return _checked_text(str(value)) if kind is not None else str(value)


def _checked_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # only a \ud800-\udfff escape can put a lone surrogate in parsed JSON
        raise ValueError(f"{shown(text, 40)} holds an unpaired surrogate escape (\\ud800-\\udfff), which is not "
                         f"text") from None
    return text
