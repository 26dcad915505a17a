"""Fine-tune with everything: warmup and decay, gradient accumulation and clipping, mixed precision,
layer-wise learning-rate decay, frozen layers, added tokens, focal or dice loss; plus all of the
intermediate level (evaluation during training, best model, early stopping, resume).

    python train_expert.py --task nsmc --demo
    python train_expert.py --task nsmc --set train.mixed_precision=bf16
    accelerate launch train_expert.py --task ynat          # several GPUs, no code change
"""

import sys

from koelectra_cookbook.cli import main
from koelectra_cookbook.trainers.expert import ExpertTrainer

if __name__ == "__main__":
    sys.exit(main(ExpertTrainer, __doc__))
