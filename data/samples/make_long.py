"""Writes the bundled long-text samples (data/samples/petitions) for --demo and the tests.

They are built from this project's own sample sentences, not taken from the petitions archive: a document is a
run of movie reviews (data/samples/nsmc) with a news title of one topic (data/samples/ynat) somewhere past its
start, and its category is that topic. A model that reads only the first 64 tokens sees reviews alone and guesses;
one that reads the whole document (data.long_text: windows) finds the title. The files are named and laid out as
the real archive's (JSON lines with category, title and content).

    python data/samples/make_long.py
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRAIN_MONTHS = ["2017-08", "2019-04", "2019-05", "2019-06", "2019-07"]
EVAL_MONTH = "2019-08"


def reviews() -> list[str]:
    with open(HERE / "nsmc" / "ratings_train.txt", encoding="utf-8", newline="") as handle:
        return [row["document"].strip() for row in csv.DictReader(handle, delimiter="\t") if row["document"].strip()]


def titles(split: str) -> dict[str, list[str]]:
    by_topic: dict[str, list[str]] = {}
    for row in json.loads((HERE / "ynat" / f"ynat-v1.1_{split}.json").read_text("utf-8")):
        by_topic.setdefault(row["label"], []).append(row["title"])
    return by_topic


def documents(by_topic: dict[str, list[str]], filler: list[str], rng: random.Random) -> list[dict]:
    rows = []
    for topic, found in sorted(by_topic.items()):
        found = found[:]
        rng.shuffle(found)
        for title in found:
            before = rng.sample(filler, rng.randint(10, 16))  # over 64 tokens of reviews before the title
            after = rng.sample(filler, rng.randint(0, 4))
            content = " ".join(before + [title] + after)
            rows.append({"category": topic, "title": before[0][:20], "content": content})
    rng.shuffle(rows)
    return rows


def write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def main() -> None:
    rng = random.Random(20261203)
    filler = reviews()
    train = documents(titles("train"), filler, rng)
    folder = HERE / "petitions"
    folder.mkdir(exist_ok=True)
    share = -(-len(train) // len(TRAIN_MONTHS))
    for i, month in enumerate(TRAIN_MONTHS):
        write(folder / f"petitions_{month}", train[i * share: (i + 1) * share])
    write(folder / f"petitions_{EVAL_MONTH}", documents(titles("dev"), filler, rng))


if __name__ == "__main__":
    main()
