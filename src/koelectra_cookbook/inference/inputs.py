"""The texts predict.py and the web page's upload classify: a .txt file (one text a line), a CSV/TSV/JSON(L)
file's text column, or standard input; for a sentence-pair model, two texts a row (two named columns, or a
tab between the two texts of a line)."""

from __future__ import annotations

import sys
from pathlib import Path

from koelectra_cookbook.data.readers import decode, detect_format, read_bytes, read_table
from koelectra_cookbook.errors import UserError, shown


REMEDY = "name it .csv, .tsv, .json or .jsonl, or give --format"


def read_texts(input_path: Path | None, text_column: str | None, encoding: str, quoting: bool = True,
               fmt: str | None = None, no_quoting_option: str = "pass --no-quoting") -> list[str]:
    """Texts from a file (or standard input), in order. Lines end at \n (or \r\n) only: a form feed or a
    U+2028 inside a line does not split it, so output rows match input lines. `fmt` (--format) names the file's
    format where its extension does not (the petitions archive's files have none)."""
    if input_path is None:
        stdin = getattr(sys.stdin, "buffer", None)
        text = sys.stdin.read() if stdin is None else decode("<stdin>", stdin.read(), encoding, "--encoding")
        texts = text_lines(text)
    elif fmt == "txt" or (fmt is None and input_path.suffix.lower() in (".txt", "") and text_column is None):
        texts = text_lines(decode(input_path, read_bytes(input_path), encoding, "--encoding"))
    elif text_column is None:
        read_bytes(input_path)  # a missing file is said first
        raise UserError(f"--input {input_path}: give --text-column for a {fmt or input_path.suffix} file")
    else:
        fmt = detect_format(input_path, fmt, REMEDY)
        table = read_table(input_path, fmt, [text_column], encoding, "--encoding", text_columns=(text_column,),
                           quoting=quoting, no_quoting_option=no_quoting_option)
        texts = table.rows[text_column].tolist()
        spanning = [i for i, text in enumerate(texts) if "\n" in text]
        if spanning:  # legal in CSV, but in a TSV usually a stray quote that swallowed the rows after it
            print(f"note: {len(spanning)} texts run over several lines, the first at {input_path}:"
                  f"{table.lines[spanning[0]]} (a quoted field; check for a stray quote)", file=sys.stderr)
    if not texts:
        raise UserError(f"{'--input ' + str(input_path) if input_path else 'standard input'}: no texts to classify")
    return texts


def text_lines(text: str) -> list[str]:
    """One text per line; a file of lone \r line ends (old Mac) is read by those."""
    newline = "\n" if "\n" in text or "\r" not in text else "\r"
    lines = text.split(newline)
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_pairs(input_path: Path | None, text_column: str | None, pair_column: str | None,
               encoding: str, quoting: bool = True, fmt: str | None = None,
               no_quoting_option: str = "pass --no-quoting") -> tuple[list[str], list[str]]:
    """(first texts, second texts) for a sentence-pair model: the two named columns of a CSV/TSV/JSON(L) file,
    or the two tab-separated texts of each line of a .txt file or standard input."""
    if (text_column is None) != (pair_column is None):
        raise UserError("a sentence-pair model needs both --text-column and --pair-column (or neither, for a "
                        "text file of two tab-separated texts a line)")
    if text_column is not None and text_column == pair_column:
        raise UserError(f"--pair-column must name another column than --text-column (both are {shown(text_column)})")
    if text_column is not None:
        fmt = detect_format(input_path, None if fmt == "txt" else fmt, REMEDY) if input_path else None
        if fmt is None:
            raise UserError("--text-column and --pair-column read a file: give --input")
        table = read_table(input_path, fmt, [text_column, pair_column], encoding, "--encoding",
                           text_columns=(text_column, pair_column), quoting=quoting,
                           no_quoting_option=no_quoting_option)
        texts, pairs = table.rows[text_column].tolist(), table.rows[pair_column].tolist()
    else:
        lines = read_texts(input_path, None, encoding)
        where = str(input_path) if input_path is not None else "<stdin>"
        texts, pairs = [], []
        for number, line in enumerate(lines, start=1):
            parts = line.split("\t")
            if line.strip() and len(parts) != 2:
                raise UserError(f"{where}:{number}: a sentence-pair model needs two texts a line, separated by one "
                                f"tab (found {len(parts)} field{'s' if len(parts) != 1 else ''})")
            first, second = parts if len(parts) == 2 else (line, "")
            texts.append(first)
            pairs.append(second)
    if not texts:
        raise UserError(f"{'--input ' + str(input_path) if input_path else 'standard input'}: no texts to classify")
    return texts, pairs
