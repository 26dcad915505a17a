"""compare.py's table on a terminal: Markdown, aligned by display width, fitted to a width (120 by default).

Hangul and other wide characters take two columns of a terminal, so padding counts columns, not characters.
A table wider than the terminal is made to fit in steps, each taken only while it is still too wide: a
column with one value in every row (the level, most often) becomes a line under the table, config keys lose
their section (`train.learning_rate` -> `learning_rate`), the widest text cells are cut
(with `…`; a path keeps its end; never below a readable minimum), and config columns are moved out to a line under the
table: first those whose cells were cut, then the others, the keys a reader looks for first last. The metric columns are never cut. `--wide` shows everything.
"""

from __future__ import annotations

import unicodedata

ELLIPSIS = "…"
MIN_CUT = 10  # a cut cell keeps at least this many columns: enough for `expert-2026...` or `0.0001`


def display_width(text: str) -> int:
    """Terminal columns `text` takes: wide and full-width characters (Hangul, CJK) two, combining marks none."""
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def cut(text: str, width: int, keep_end: bool = False) -> str:
    """`text` cut to at most `width` terminal columns, an ellipsis where it was cut: at the end, or with
    `keep_end` at the start (a path's last folders tell runs apart, its first ones rarely do)."""
    if display_width(text) <= width:
        return text
    kept, used = [], 0
    for char in reversed(text) if keep_end else text:
        step = display_width(char)
        if used + step > width - 1:
            break
        kept.append(char)
        used += step
    return ELLIPSIS + "".join(reversed(kept)) if keep_end else "".join(kept) + ELLIPSIS


def pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def markdown(header: list[str], cells: list[list[str]]) -> str:
    """A Markdown table whose columns line up on a terminal."""
    widths = [column_width(header, cells, i) for i in range(len(header))]
    lines = ["| " + " | ".join(pad(h, w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(pad(c, w) for c, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)


def table_width(header: list[str], cells: list[list[str]]) -> int:
    return sum(column_width(header, cells, i) for i in range(len(header))) + 3 * len(header) + 1


def fit(header: list[str], cells: list[list[str]], keys: list[str],
        width: int) -> tuple[list[str], list[list[str]], list[str]]:
    """The table made to fit `width` columns, and the lines to print under it for what was moved out. `keys`
    are the config columns, which follow `level` in `header`, in the order a reader looks for them."""
    header, cells, keys = list(header), [list(row) for row in cells], list(keys)
    first_key = 1  # the config columns are header[first_key:first_key + len(keys)]
    notes: list[str] = []

    def too_wide() -> bool:
        return table_width(header, cells) > width

    def remove(column: int) -> None:
        del header[column]
        for row in cells:
            del row[column]

    if too_wide() and len({row[0] for row in cells}) == 1:  # 1. one level in every row: said once, below
        notes.append(f"{header[0]}: {cells[0][0]} (every row)")
        remove(0)
        first_key = 0
    if too_wide():  # 2. keys without their section, where that stays unambiguous
        short = [key.split(".", 1)[-1] for key in keys]
        for i, name in enumerate(short):
            if short.count(name) == 1:
                header[first_key + i] = name
    cuttable = [*range(first_key, first_key + len(keys)), len(header) - 1]  # the config columns and the run
    paths = {i for i in cuttable if any("/" in row[i] for row in cells)}  # cut at their start
    while too_wide():  # 3. cut the widest cuttable column by one column of text
        widths = {i: column_width(header, cells, i) for i in cuttable}
        widths = {i: w for i, w in widths.items() if w > MIN_CUT}
        if not widths:
            break
        column = max(widths, key=lambda i: (widths[i], i))
        header[column] = cut(header[column], widths[column] - 1)
        for row in cells:
            row[column] = cut(row[column], widths[column] - 1, keep_end=column in paths)
    moved: list[str] = []
    # 4. move config columns out: first those step 3 cut (their values no longer shown whole: a long path), then
    # the others, the last of each first; a short setting that tells the runs apart stays in sight longest
    cut_columns = [i for i in range(len(keys)) if any(ELLIPSIS in row[first_key + i] for row in cells)]
    order = [*reversed(cut_columns), *(i for i in reversed(range(len(keys))) if i not in cut_columns)]
    for index in order:
        if not too_wide():
            break
        moved.append(keys[index])
        remove(first_key + sum(1 for i in range(index) if keys[i] not in moved))
    moved = [key for key in keys if key in moved]  # named in the table's order
    if moved:
        notes.append(f"not shown (--wide shows them): {', '.join(moved)}")
    return header, cells, notes


def column_width(header: list[str], cells: list[list[str]], column: int) -> int:
    return max(display_width(header[column]), *(display_width(row[column]) for row in cells))
