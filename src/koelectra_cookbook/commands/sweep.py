"""sweep.py: a hyperparameter search with Optuna, selecting on the dev split only (experiments/sweep.py).

    python sweep.py --task nsmc --trials 20
    python sweep.py --config my.yaml --trials 20 --storage postgresql://user:pass@db/optuna   # several machines
"""

from __future__ import annotations

import argparse

from koelectra_cookbook.commands.shell import exit_status, quiet_libraries
from koelectra_cookbook.commands.arguments import parse_args
from koelectra_cookbook.experiments.sweep import run_sweep


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=int, default=20, help="trials complete or pruned in the study, in all")
    parser.add_argument("--study", default="default", help="the study's name (its folder is sweep-<study>)")
    parser.add_argument("--storage", help="an Optuna RDB URL (default: sqlite:///<sweep folder>/study.db)")
    parser.add_argument("--repeat-best", type=int, default=0, metavar="N",
                        help="run the best config again with N new seeds; report mean +- std on the evaluation file")
    parser.add_argument("--evals-per-epoch", type=int,
                        help="dev evaluations per epoch in each trial, reported to the pruner (default: 4 per run, "
                             "at least 1 per epoch)")
    parser.add_argument("--sampler-seed", type=int, help="seed of the TPE sampler (default: train.seed)")


def main(argv: list[str] | None = None) -> int:
    """sweep.py: parse, check everything, then search. Returns the process exit status."""
    quiet_libraries()

    def search() -> None:
        run_sweep(parse_args(__doc__.splitlines()[0], argv, resumable=False, extra=add_sweep_arguments))

    return exit_status(search, lambda: "interrupted; the running trial is lost (marked failed): run the same "
                                       "command again to continue the study")
