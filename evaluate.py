"""Score a saved model on a labelled file: metrics, per-label table, plot and predictions beside every input column.

    python evaluate.py --model runs/nsmc/expert-20261126-120000/model --input data/nsmc/ratings_test.txt
    python evaluate.py --model RUN_DIR/model --input my_test.csv --label-column sentiment --output-dir evaluations
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.evaluate())  # koelectra_cookbook/commands/evaluate.py
