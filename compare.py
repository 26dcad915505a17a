"""Compare runs: one row per run (runs that differ only in train.seed: one row, mean +- std), by dev metric.

    python compare.py runs/nsmc
    python compare.py runs/nsmc/sweep-default runs/nsmc/expert-20261126-120000 --csv table.csv --plot curves.png
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.compare())  # src/koelectra_cookbook/experiments/compare.py
