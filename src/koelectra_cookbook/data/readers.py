"""Read CSV, TSV, JSON and JSONL files into a table of strings, or fail with `FILE:LINE: what is wrong`.

Everything is read as text: label values are normalised later, so 1, "1" and "1.0" mean the same label.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import warnings
from pathlib import Path

import pandas as pd

from ..errors import UserError

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".json": "json", ".jsonl": "jsonl"}


def detect_format(path: Path, configured: str | None) -> str:
    """The configured format, or the one the file extension implies."""
    if configured:
        return configured
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise UserError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                        f"set data.format to csv, tsv, json or jsonl") from None


def read_table(path: Path, fmt: str, columns: list[str], encoding: str = "utf-8",
               encoding_option: str = "data.encoding") -> pd.DataFrame:
    """Read `columns` of a data file as strings, with one `line` column giving each row's line in the file.

    Missing values become "" so callers decide what an empty field means. Raises UserError naming the file
    and, where one is to blame, the line. Column names are compared in NFC, however the file or the config
    composes their Hangul. `encoding_option` is what the user sets to change the encoding (for messages).
    """
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"{path}: file is empty")
    text = decode(path, raw, encoding, encoding_option)
    if fmt in ("csv", "tsv"):
        table = _read_delimited(path, text, "," if fmt == "csv" else "\t")
    else:
        table = _read_json_records(path, text, fmt)
    table.columns = [unicodedata.normalize("NFC", str(c)) for c in table.columns]
    columns = [unicodedata.normalize("NFC", c) for c in columns]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        found = [c for c in table.columns if c != "line"]
        raise UserError(f"{path}:1: no column {missing[0]!r} (columns found: {', '.join(map(str, found))})")
    return table[columns + ["line"]]


def decode(path: Path | str, raw: bytes, encoding: str, encoding_option: str = "data.encoding") -> str:
    """The text of a file's bytes; bytes that do not decode are an error naming the line, with a hint when the
    file is CP949 (what older Korean Windows software writes)."""
    setting = f"set {encoding_option}: cp949" if encoding_option.startswith("data.") else f"pass {encoding_option} cp949"
    try:
        text = raw.decode(encoding)
    except LookupError:
        prefix = "config: " if encoding_option.startswith("data.") else ""
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


_PANDAS_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_delimited(path: Path, text: str, sep: str) -> pd.DataFrame:
    try:
        # Default quoting: NSMC is written by pandas, which quotes fields holding a quote character.
        # index_col=False, and its warning about a row with too many fields made an error: otherwise pandas
        # would take the first column as an index and silently shift the others.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                                quoting=csv.QUOTE_MINIMAL, engine="c", index_col=False)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: file is empty") from None
    except pd.errors.ParserError as exc:
        match = _PANDAS_LINE.search(str(exc))
        if match:
            expected, line, saw = match.groups()
            raise UserError(f"{path}:{line}: expected {expected} fields, found {saw}") from None
        raise UserError(f"{path}: cannot parse as {'CSV' if sep == ',' else 'TSV'}: {' '.join(str(exc).split())}") \
            from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        _raise_on_long_row(path, text, sep)
    duplicated = [c for c in table.columns if re.fullmatch(r".+\.\d+", str(c)) and str(c).rsplit(".", 1)[0]
                  in table.columns]
    if duplicated:
        raise UserError(f"{path}:1: column {duplicated[0].rsplit('.', 1)[0]!r} appears more than once")
    table.columns = [str(c).strip() for c in table.columns]
    if len(set(table.columns)) < len(table.columns):
        repeated = next(c for c in table.columns if list(table.columns).count(c) > 1)
        raise UserError(f"{path}:1: column {repeated!r} appears more than once")
    table["line"] = _row_lines(text, len(table), sep)
    return table


def _raise_on_long_row(path: Path, text: str, sep: str) -> None:
    """pandas warned that a row has more fields than the header: find it and say where."""
    # newline="": a lone "\r" ends a line here as it does for pandas, instead of stopping the csv module.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        expected = len(next(reader))
        for row in reader:
            if len(row) > expected:
                raise UserError(f"{path}:{reader.line_num}: expected {expected} fields, found {len(row)}")
    except csv.Error as exc:
        raise UserError(f"{path}:{reader.line_num}: cannot parse: {exc}") from None
    raise UserError(f"{path}: a row has more fields than the header")


def _row_lines(text: str, rows: int, sep: str) -> list[int]:
    """Physical line of each data row. pandas skips blank lines (whitespace without a separator), so count
    only the others; lines end at "\n" alone, as they do for the CSV parser."""
    lines = text.split("\n")
    kept = [number for number, line in enumerate(lines, start=1) if line.strip() or sep in line][1:]
    if len(kept) == rows:
        return kept
    return list(range(2, rows + 2))  # quoted fields span lines: fall back to one line per row


def _read_json_records(path: Path, text: str, fmt: str) -> pd.DataFrame:
    if fmt == "jsonl":
        records, lines = [], []
        for number, line in enumerate(text.split("\n"), start=1):  # not splitlines(): U+2028 may sit in a string
            if line.strip():
                records.append(_parse_json(path, line, number))
                lines.append(number)
    else:
        records = _parse_json(path, text, 1)
        item_depth = 1
        if isinstance(records, dict) and isinstance(records.get("data"), list):
            records, item_depth = records["data"], 2  # {"data": [...]} is a common wrapper
        if not isinstance(records, list):
            raise UserError(f"{path}:1: expected a JSON array of objects, found a {type(records).__name__}")
        lines = _json_item_lines(text, len(records), item_depth)
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise UserError(f"{path}:{lines[number - 1]}: expected a JSON object, found {json.dumps(record, ensure_ascii=False)[:60]}")
    if not records:
        raise UserError(f"{path}: no records")
    # Each value becomes text before pandas sees it, so a number beside a missing value stays "0", not "0.0".
    rows = [{key: _as_text(value) for key, value in record.items()} for record in records]
    if _SURROGATE_ESCAPE.search(text):  # only a \ud800-\udfff escape can put a lone surrogate in parsed JSON
        _refuse_lone_surrogates(path, rows, lines)
    table = pd.DataFrame.from_records(rows)
    table = table.fillna("")
    table["line"] = lines
    return table


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(path: Path, rows: list[dict], lines: list[int]) -> None:
    for row, line in zip(rows, lines):
        for key, value in row.items():
            for text in (key, value):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    raise UserError(f"{path}:{line}: {key!r} holds an unpaired surrogate escape (\\ud800-\\udfff), "
                                    f"which is not text") from None


def _parse_json(path: Path, text: str, first_line: int):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{first_line + exc.lineno - 1}: broken JSON: {exc.msg}") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, a number too long to convert
        raise UserError(f"{path}:{first_line}: unreadable JSON: {' '.join(str(exc).split())[:120]}") from None


def _json_item_lines(text: str, count: int, item_depth: int = 1) -> list[int]:
    """Line where each item of the array of records starts (at `item_depth`: 1 for a top-level array, 2 inside
    a {"data": [...]} wrapper), found by scanning the text outside strings."""
    lines, depth, line, in_string, escaped, expecting_item = [], 0, 1, False, False, False
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if depth == item_depth and expecting_item and not char.isspace() and char not in ",]":
            lines.append(line)
            expecting_item = False
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            expecting_item = depth == item_depth and char == "["
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == item_depth:
            expecting_item = True
    return (lines + [line] * count)[:count]


def _as_text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
