"""Read CSV, TSV, JSON and JSONL files into a table of strings, or fail with `FILE:LINE: what is wrong`.

Everything is read as text: label values are normalised later, so 1, "1" and "1.0" mean the same label.
Delimited files are read with Python's csv module (quoting as pandas and spreadsheets write it), which knows
the physical line every row starts on, quoted fields spanning lines included; JSON and JSONL are read by
json_records.py.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import re
import sys
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from koelectra_cookbook.data.json_records import read_json_records
from koelectra_cookbook.data.row_lines import RowLines
from koelectra_cookbook.errors import UserError, shown

if TYPE_CHECKING:
    import pandas as pd

FORMATS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".json": "json", ".jsonl": "jsonl"}


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
               encoding_option: str = "data.encoding", text_columns: tuple[str, ...] = (),
               list_column: str | None = None, quoting: bool = True,
               no_quoting_option: str = "set data.quoting: false", all_columns: bool = False) -> Table:
    """Read `columns` of a data file as strings, or raise UserError naming the file and, where one is to
    blame, the line. Column names are compared in NFC, however the file or the config composes their Hangul.

    In JSON, each of `text_columns` must hold strings and `list_column` (multi-label) lists of names; every other
    column scalars; a column `a.b` is field b of the object in field a. `encoding_option` is what the user
    sets to change the encoding (for messages). `quoting` false: in CSV/TSV a quote is a plain character
    (files written without quoting, whose texts hold an unbalanced `"`); `no_quoting_option` is how the user
    says so (for the message of a file whose quotes break the rules). `all_columns`: the table keeps every
    column of the file (evaluate.py writes them all back), `columns` first checked to be among them.
    """
    raw = read_bytes(path)
    if not raw.strip():
        raise UserError(f"{path}: file is empty")
    text = decode(path, raw, encoding, encoding_option)
    if fmt in ("csv", "tsv"):
        try:
            table, lines = _read_delimited(path, text, "," if fmt == "csv" else "\t", quoting)
        except QuotingError as problem:
            raise UserError(f"{problem}; if the file was written without quoting, so that a quote is a plain "
                            f"character (KorNLI and KorSTS are), {no_quoting_option}") from None
    else:
        table, lines = read_json_records(path, text, fmt, columns, text_columns, list_column)
    table.columns = [unicodedata.normalize("NFC", str(c)) for c in table.columns]
    columns = [unicodedata.normalize("NFC", c) for c in columns]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        found = ", ".join(shown(c, 40) for c in list(table.columns)[:20])
        close = difflib.get_close_matches(missing[0], [str(c) for c in table.columns], n=1, cutoff=0.5)
        hint = f"; did you mean {shown(close[0], 40)}?" if close else ""
        raise UserError(f"{path}:1: no column {missing[0]!r} (columns found: {found}"
                        f"{', ...' if len(table.columns) > 20 else ''}){hint}")
    return Table(table if all_columns else table[columns], lines)


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

class QuotingError(UserError):
    """A CSV/TSV file whose quotes do not follow the quoting rules: often a file written without quoting."""


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
        if width > 1 and [unicodedata.normalize("NFC", field.strip()) for field in row] == header:
            raise UserError(f"{path}:{start}: the header again (were two files joined?); remove the line")
    # A short row's missing fields read as "" (spreadsheets drop trailing empty fields). Columns without a name
    # (spreadsheets' trailing empty cells) are never read, so they may repeat.
    import pandas as pd  # here, not at the top: predict.py reads .txt files without it

    table = pd.DataFrame({name: [row[i] if i < len(row) else "" for row in rows[1:]] for i, name in
                          enumerate(header) if name}, dtype=object)
    return table, RowLines(lambda: starts[1:])


def _whitespace_only(row: list[str]) -> bool:
    return len(row) == 1 and not row[0].strip()


def _rows_and_starts(path: Path, text: str, sep: str, quoting: bool = True) -> tuple[list[list[str]], list[int]]:
    """Every row but empty lines, and the physical line it starts on. A line ends at \n or \r\n; in a file
    without any \n (old Mac), at a lone \r. Elsewhere a lone \r is a character of its field (a stray one in a
    scraped text), as predict.py reads a .txt file: it must not cut a record in two."""
    stand_in = None
    if "\n" in text and _LONE_CR.search(text):  # the csv module ends a line at a lone \r: hide it from it
        stand_in = next(chr(c) for c in range(0xE000, 0xF900) if chr(c) not in text)  # a private-use character
        text = _LONE_CR.sub(stand_in, text)
    rows, starts = _csv_rows(path, text, sep, quoting)
    if stand_in is not None:
        rows = [[field.replace(stand_in, "\r") for field in row] for row in rows]
    return rows, starts


_LONE_CR = re.compile(r"\r(?!\n)")


def _csv_rows(path: Path, text: str, sep: str, quoting: bool) -> tuple[list[list[str]], list[int]]:
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
                    raise QuotingError(f"{path}:{start}: a quoted field is never closed") from None
                raise QuotingError(f"{path}:{reader.line_num}: malformed quoting ({exc}); a field that starts with "
                                   f"a quote must end with one, with the quotes inside doubled") from None
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
