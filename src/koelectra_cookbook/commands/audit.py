"""audit.py: duplicates, leaks and label issues in a task's training data (experiments/audit.py).

    python audit.py --task nsmc --checks duplicates
    python audit.py --task nsmc --set data.max_train_samples=20000 --folds 5
    python audit.py --resume runs/nsmc/audit-20261206-120000    # the folds still missing
"""

from __future__ import annotations

import argparse

from koelectra_cookbook.commands.arguments import parse_args
from koelectra_cookbook.commands.shell import exit_status, quiet_libraries
from koelectra_cookbook.config.levels import LEVELS


def add_audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checks", default="duplicates,labels",
                        help="duplicates (and leaks), labels (k-fold training and cleanlab), or both (the default)")
    parser.add_argument("--folds", type=int, default=5,
                        help="label issues: trainings, each scoring the rows of one fold (default 5)")
    parser.add_argument("--level", choices=[name for name in LEVELS if name != "pretraining"],
                        help="the trainer level of the folds (default: expert, multi-label for multi-label data)")
    parser.add_argument("--keep-fold-models", action="store_true",
                        help="keep each fold's model/ and checkpoints/ (by default only its probabilities stay)")


def main(argv: list[str] | None = None) -> int:
    """audit.py: parse, check, audit; the last line printed is `run: <audit folder>`."""
    quiet_libraries()

    def audit() -> None:
        args = parse_args(__doc__.splitlines()[0], argv, resumable=True, extra=add_audit_arguments)
        from koelectra_cookbook.experiments.audit import run_audit  # pandas, scikit-learn: after --help and typos

        print(f"run: {run_audit(args)}")

    return exit_status(audit, lambda: "interrupted; the folds already scored are kept: continue with "
                                      "python audit.py --resume <the audit folder> (same --folds)")
