"""compare.py: one table of many runs, sorted by the dev headline metric.

    python compare.py runs/nsmc [more folders or run directories] [--csv FILE] [--plot FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.experiments.compare import differing_keys, find_runs, group_runs, markdown, read_run, table
from koelectra_cookbook.experiments.compare_outputs import check_output, write_plot
from koelectra_cookbook.files.safe_json import DamagedState
from koelectra_cookbook.files.tables import cell, write_csv


def main(argv: list[str] | None = None) -> int:
    return exit_status(lambda: compare(argv), lambda: "interrupted; nothing was written")


def compare(argv: list[str] | None) -> None:
    parser = ArgumentParser(description="Compare runs: a Markdown table sorted by the dev headline metric.")
    parser.add_argument("paths", nargs="+", type=lambda text: Path(path_argument(text)),
                        help="run directories, or folders holding them (e.g. runs/nsmc)")
    parser.add_argument("--csv", type=lambda text: Path(path_argument(text)), help="also write the table as CSV")
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
    rows = group_runs(runs)
    keys = differing_keys(rows)
    base = args.paths[0] if len(args.paths) == 1 else None
    header, cells = table(rows, keys, base)
    print(markdown(header, cells))
    if args.csv is not None:
        write_csv(args.csv, header, cells)
        print(f"csv: {args.csv}")
    if args.plot is not None:
        write_plot(args.plot, runs, keys)
        print(f"plot: {args.plot}")
