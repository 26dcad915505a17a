"""data.exclude: train without rows a person has confirmed as wrong (audit.py's label_issues.csv, duplicates.csv
or leaks.csv, cut down to the rows to drop, or any CSV of the same columns).

A row is named by the training file it is in (`file`, the name alone) and the line it starts on (`line`, as
audit.py and every error message count them; for a Hugging Face dataset, `klue[ynat]:train` as audit.py writes it
and the row's 1-based number in the split); its `text` must still be the text on that line, so a list made before
the file changed is refused rather than applied to other rows. Only training rows are dropped: a dev or evaluation
file is never changed by it.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

from koelectra_cookbook.data.readers import read_table
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.files.values import parse_whole_number

COLUMNS = ("file", "line", "text")


def read_exclusions(path: Path) -> dict[tuple[str, int], str]:
    """(file name, line) -> the text there, for every row of the CSV at `path` (read as untrusted: one error line
    naming the file and row on anything malformed)."""
    if not path.is_file():
        raise UserError(f"config: data.exclude: {path} is not a file")
    table, lines = read_table(path, "csv", list(COLUMNS), "utf-8", text_columns=("text",))
    exclusions: dict[tuple[str, int], str] = {}
    for row, (name, line, text) in enumerate(zip(table["file"], table["line"], table["text"])):
        number = parse_whole_number(str(line).strip())
        if not str(name).strip() or number is None or number < 1:
            raise UserError(f"{path}:{lines[row]}: a row to exclude needs a file name and a line number of at "
                            f"least 1 (found {shown(name)}, {shown(line)})")
        exclusions[(Path(str(name).strip()).name, number)] = unicodedata.normalize("NFC", str(text).strip())
    return exclusions


def excluded_rows(raw, exclusions: dict[tuple[str, int], str], source: Path) -> np.ndarray:
    """Which kept rows of `raw` (a training file read by dataset.py) the exclusions name, as a boolean mask;
    each named row's text is checked against the file. Entries for other files are left for them."""
    name = raw.path.name
    wanted = {line: text for (file, line), text in exclusions.items() if file == name}
    mask = np.zeros(len(raw.texts), dtype=bool)
    if not wanted:
        return mask
    lines = np.asarray(raw.lines[raw.kept])
    for row in np.flatnonzero(np.isin(lines, list(wanted))):
        text = wanted.pop(int(lines[row]))
        if unicodedata.normalize("NFC", raw.texts[row]) != text:
            raise UserError(f"config: data.exclude {source}: line {lines[row]} of {name} holds "
                            f"{shown(raw.texts[row], 60)}, not {shown(text, 60)}; was the file changed since "
                            f"the list was made?")
        mask[row] = True
    if wanted:
        line = min(wanted)
        raise UserError(f"config: data.exclude {source}: {name} has no row starting at line {line} "
                        f"({len(wanted)} such rows in all)")
    return mask


def check_every_file_named(exclusions: dict[tuple[str, int], str], names: list[str], source: Path) -> None:
    """An exclusion naming no training file (another dataset's list, or the evaluation file's): an error."""
    stray = sorted({file for file, _ in exclusions} - set(names))
    if stray:
        raise UserError(f"config: data.exclude {source}: names {shown(stray[0])}, which is not a training file "
                        f"of this config ({', '.join(names)})")
