"""Search hyperparameters with Optuna (TPE sampler, median pruner), choosing on the dev split only.

    python sweep.py --task nsmc --demo --trials 4
    python sweep.py --task nsmc --trials 20 --repeat-best 3
    python sweep.py --config my.yaml --trials 40 --storage postgresql://user:password@host/optuna  # on each machine

Running the same command again continues the study to --trials trials in all. Needs pip install -e ".[sweep]".
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.sweep())  # src/koelectra_cookbook/experiments/sweep.py
