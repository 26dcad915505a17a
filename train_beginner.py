"""Fine-tune a Korean ELECTRA classifier, the simplest way: train, evaluate, predict.

    python train_beginner.py --task nsmc --demo          # offline, under a minute on a CPU
    python train_beginner.py --task nsmc                  # the real thing (downloads NSMC and KoELECTRA)
    python train_beginner.py --config my.yaml --set train.epochs=1
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.train("beginner", __doc__))  # trainers/beginner.py
