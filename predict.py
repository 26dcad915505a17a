"""Classify texts with a model a run saved.

    python predict.py --model runs/nsmc/expert-20261126-120000/model --input reviews.txt --output predictions.csv
    python predict.py --model RUN_DIR/model --input data.csv --text-column document --top-k 2
    echo "정말 재밌는 영화였다" | python predict.py --model RUN_DIR/model
"""

import sys

from koelectra_cookbook import entry

if __name__ == "__main__":
    sys.exit(entry.predict())  # koelectra_cookbook/commands/predict.py
