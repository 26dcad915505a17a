"""Fine-tune with evaluation during training, the best checkpoint kept, early stopping and resume.

    python train_intermediate.py --task nsmc --demo
    python train_intermediate.py --task ynat --set train.eval_every=500 --set train.es_patience=3
    python train_intermediate.py --resume runs/nsmc/intermediate-20260101-120000   # after Ctrl-C or a crash
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.train("intermediate", __doc__))  # trainers/intermediate.py
