"""Fine-tune a multi-label classifier (a text may carry several labels, or none): the expert trainer with
sigmoid outputs, BCE (or focal/dice) loss, and a decision threshold per label tuned on the dev split.

    python train_multi_label.py --task unsmile --demo
    python train_multi_label.py --task unsmile --set train.pos_weight=balanced
    python train_multi_label.py --config my_multilabel.yaml     # data.label_columns or data.multi_label
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.train("multi-label", __doc__))  # trainers/multi_label.py
