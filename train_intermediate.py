"""Fine-tune with evaluation during training, the best checkpoint kept, early stopping and resume.

    python train_intermediate.py --task nsmc --demo
    python train_intermediate.py --task ynat --set train.eval_every=500 --set train.es_patience=3
    python train_intermediate.py --resume runs/nsmc/intermediate-20260101-120000   # after Ctrl-C or a crash
"""

import sys

from koelectra_cookbook.cli import main
from koelectra_cookbook.trainers.intermediate import IntermediateTrainer

if __name__ == "__main__":
    sys.exit(main(IntermediateTrainer, __doc__))
