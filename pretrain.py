"""Continue pretraining an ELECTRA encoder on your own text (replaced-token detection), then fine-tune it.

    python pretrain.py --demo
    python pretrain.py --config config/pretrain.yaml
    python pretrain.py --task nsmc                 # a task's training texts, their labels ignored
    python pretrain.py --resume runs/corpus/pretraining-YYYYmmdd-HHMMSS
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.train("pretraining", __doc__))  # koelectra_cookbook/commands/train.py
