"""The one CSV writer (predictions.csv, per_label.csv, metrics.csv rewritten on resume, predict.py's output,
compare.py --csv), and `cell`: a value from an untrusted file made safe to show in one table cell."""

from __future__ import annotations

import csv
import io
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.atomic import atomic_write


def csv_text(header: list[str], rows: Iterable[Iterable]) -> str:
    """A header line, then one line per row, quoted where a field needs it (Excel's and pandas' dialect)."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return text.getvalue()


def columns_csv_text(columns: dict[str, list]) -> str:
    """CSV text from named columns of equal length."""
    return csv_text(list(columns), zip(*columns.values()))


def write_csv(path: Path, header: list[str], rows: Iterable[Iterable]) -> None:
    """Write the CSV file whole or not at all."""
    atomic_write(path, csv_text(header, rows))


def write_table(columns: dict[str, list], output: Path | None) -> None:
    """The predictions CSV to standard output, or written whole to `output`."""
    text = columns_csv_text(columns)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(output, text)
    except OSError as exc:
        raise UserError(f"--output {output}: cannot write ({exc.strerror or exc})") from None


def cell(value, limit: int = 40) -> str:
    """A config value or a name as a table cell: short, one line (control characters escaped), no `|`."""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = "null" if value is None else str(value)
    text = "".join(f"\\x{ord(char):02x}" if unicodedata.category(char)[0] == "C" else char for char in text)
    text = text.replace("|", "/")
    return text if len(text) <= limit else text[:limit - 3] + "..."
