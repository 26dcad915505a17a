"""compare.py: tables of many runs, one per task, each sorted by its dev headline metric.

    python compare.py runs/nsmc [more folders or run directories] [--wide] [--csv FILE] [--plot FILE]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.experiments.compare import (differing_keys, find_runs, group_runs, read_run, sections, table,
                                                   uncompared_keys)
from koelectra_cookbook.experiments.compare_table import fit, markdown
from koelectra_cookbook.experiments.compare_outputs import check_output, write_plot
from koelectra_cookbook.files.safe_json import DamagedState
from koelectra_cookbook.files.tables import cell, write_csv


def main(argv: list[str] | None = None) -> int:
    return exit_status(lambda: compare(argv), lambda: "interrupted; nothing was written")


def compare(argv: list[str] | None) -> None:
    parser = ArgumentParser(description="Compare runs: a Markdown table per task, sorted by its dev headline metric.")
    parser.add_argument("paths", nargs="+", type=lambda text: Path(path_argument(text)),
                        help="run directories, or folders holding them (e.g. runs/nsmc)")
    parser.add_argument("--width", type=int, default=120,
                        help="fit the tables to this many terminal columns (default: 120)")
    parser.add_argument("--wide", action="store_true", help="show every column and every value in full")
    parser.add_argument("--csv", type=lambda text: Path(path_argument(text)),
                        help="also write every row, in full, as CSV (a task and a metric column name its table)")
    parser.add_argument("--plot", type=lambda text: Path(path_argument(text)),
                        help="a PNG of every run's dev headline metric and dev loss against the step")
    args = parser.parse_args(argv)
    found, problems = find_runs(args.paths)
    for output in (args.csv, args.plot):
        if output is not None:
            check_output(output, found)
    runs = []
    for path in found:
        try:
            runs.append(read_run(path))
        except (DamagedState, OSError) as problem:
            problems.append(f"{cell(str(path), 300)}: {problem}")
    for line in problems:
        print(f"skipped: {line}", file=sys.stderr)
    if not runs:
        raise UserError("no run with results to compare in " + ", ".join(cell(str(p), 300) for p in args.paths))
    base = common_folder(args.paths)
    every_section = sections(group_runs(runs))
    for number, section in enumerate(every_section):
        keys = differing_keys(section.rows)
        header, cells = table(section.rows, keys, base, section.metric)
        shown, shown_cells, notes = (header, cells, []) if args.wide else fit(header, cells, keys, args.width)
        print(("\n" if number else "") + section.title)
        print(markdown(shown, shown_cells))
        for line in notes:
            print(line)
        same = uncompared_keys(section.rows)
        if same:
            print(f"differ, but do not change results (not columns): {', '.join(same)}")
    if args.csv is not None:
        write_csv(args.csv, *csv_table(every_section, base))
        print(f"csv: {args.csv}")
    if args.plot is not None:
        write_plot(args.plot, runs, differing_keys(group_runs(runs)))
        print(f"plot: {args.plot}")


def common_folder(paths: list[Path]) -> Path | None:
    """The folder every given path lies in, which run paths are shown relative to (None if there is none)."""
    try:
        common = Path(os.path.commonpath([str(path.resolve()) for path in paths]))
    except ValueError:
        return None
    return common if common != Path(common.anchor) else None


def csv_table(every_section: list, base: Path | None) -> tuple[list[str], list[list[str]]]:
    """Every row of every section in one CSV, in full: the config keys that differ anywhere as columns, the
    metric columns named `dev` and `eval`, then the task and the metric they hold."""
    # `task` has a column of its own, last
    keys = [key for key in differing_keys([row for section in every_section for row in section.rows]) if key != "task"]
    header, rows = None, []
    for section in every_section:
        section_header, cells = table(section.rows, keys, base, section.metric)
        header = [name.replace(f" {section.metric}", "") if name.endswith(f" {section.metric}") else name
                  for name in section_header] + ["task", "metric"]
        rows += [[*row, section.task, section.metric] for row in cells]
    return header, rows
