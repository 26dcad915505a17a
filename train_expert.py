"""Fine-tune with everything: warmup and decay, gradient accumulation and clipping, mixed precision,
layer-wise learning-rate decay, frozen layers, added tokens, focal or dice loss; plus all of the
intermediate level (evaluation during training, best model, early stopping, resume).

    python train_expert.py --task nsmc --demo
    python train_expert.py --task nsmc --set train.mixed_precision=bf16
    accelerate launch train_expert.py --task ynat          # several GPUs, no code change
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.train("expert", __doc__))  # trainers/expert.py
