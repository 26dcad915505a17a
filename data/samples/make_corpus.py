"""Writes the bundled pretraining corpus (data/samples/corpus/corpus.txt) for `pretrain.py --demo` and the tests.

Its texts are this project's own sample sentences (the nsmc reviews and ynat titles in data/samples, none taken from
elsewhere), one a line, in a seeded shuffle; the labels are dropped: what continued pretraining reads.

    python data/samples/make_corpus.py
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    with open(HERE / "nsmc" / "ratings_train.txt", encoding="utf-8", newline="") as handle:
        texts = [row["document"] for row in csv.DictReader(handle, delimiter="\t")]
    texts += [row["title"] for row in json.loads((HERE / "ynat" / "ynat-v1.1_train.json").read_text("utf-8"))]
    texts = [" ".join(text.split()) for text in texts if text.strip()]
    random.Random(20261206).shuffle(texts)
    (HERE / "corpus").mkdir(exist_ok=True)
    (HERE / "corpus" / "corpus.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
