"""JSON and JSONL files read into a table of strings (readers.py's `read_table` calls this), every error naming the
file and the line its record starts on: an array of objects, `{"data": [...]}`, or one object a line. A value is
read as what its column means: the text must be a string, a multi-label column a list of names, a label a scalar;
`a.b` names field b of the object in field a."""

from __future__ import annotations

import json
import math
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from koelectra_cookbook.data.row_lines import RowLines
from koelectra_cookbook.errors import UserError, shown

if TYPE_CHECKING:
    import pandas as pd


def read_json_records(path: Path, text: str, fmt: str, columns: list[str], text_columns: tuple[str, ...],
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
    kinds = {name: "scalar" for name in columns} | {name: "text" for name in text_columns} | {list_column: "list"}
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
