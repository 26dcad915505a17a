"""Helpers for running a script's main() in-process, as a user would from the command line."""

from __future__ import annotations

from pathlib import Path

from koelectra_cookbook.cli import main


def run_cli(trainer_class, *argv: str) -> tuple[int, Path | None]:
    """Run a script's main with these arguments; return (exit status, run directory or None)."""
    status = main(trainer_class, "test", list(argv))
    runs = sorted(Path(argv[argv.index("--output-dir") + 1]).glob("*/*")) if "--output-dir" in argv else []
    return status, (runs[-1] if runs else None)
