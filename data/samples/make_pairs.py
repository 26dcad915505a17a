"""Writes the bundled sentence-pair samples (data/samples/korsts, kornli, klue-sts and klue-nli) for --demo and the
tests.

They are built from this project's own sample sentences (data/samples/nsmc and ynat), not taken from KorSTS or
KorNLI or KLUE: a pair's score or label follows from how much of the first sentence the second one keeps, which a
tiny model can learn in a minute. The file formats are the real datasets' (KorSTS and KorNLI tab-separated, no
quoting; KLUE a JSON array of records, the STS score under labels.real-label).

    python data/samples/make_pairs.py
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sentences() -> list[str]:
    with open(HERE / "nsmc" / "ratings_train.txt", encoding="utf-8", newline="") as handle:
        reviews = [row["document"] for row in csv.DictReader(handle, delimiter="\t")]
    titles = [row["title"] for row in json.loads((HERE / "ynat" / "ynat-v1.1_train.json").read_text("utf-8"))]
    return [s.strip() for s in reviews + titles if len(s.split()) >= 4 and "\t" not in s]


def related(sentence: str, keep: float, rng: random.Random) -> str:
    """The sentence with about `keep` of its words, in order."""
    words = sentence.split()
    count = max(1, round(len(words) * keep))
    chosen = sorted(rng.sample(range(len(words)), count))
    return " ".join(words[i] for i in chosen)


def sts_rows(pool: list[str], count: int, rng: random.Random) -> list[list[str]]:
    rows = []
    for i in range(count):
        first = rng.choice(pool)
        kind = rng.random()
        if kind < 0.25:
            second, score = first, 5.0
        elif kind < 0.75:
            keep = rng.uniform(0.3, 0.9)
            second, score = related(first, keep, rng), round(1.0 + 4.0 * keep * rng.uniform(0.9, 1.0), 2)
        else:
            second, score = rng.choice(pool), round(rng.uniform(0.0, 0.8), 2)
        rows.append(["main-captions", "MSRvid", "2012test", f"{i:04d}", f"{score}", first, second])
    return rows


def nli_rows(pool: list[str], count: int, rng: random.Random) -> list[list[str]]:
    rows = []
    for _ in range(count):
        first = rng.choice(pool)
        label = rng.choice(["entailment", "neutral", "contradiction"])
        if label == "entailment":
            second = related(first, rng.uniform(0.5, 0.9), rng)
        elif label == "neutral":
            second = related(first, 0.5, rng) + " " + related(rng.choice(pool), 0.5, rng)
        else:
            second = rng.choice(pool)
        rows.append([first, second, label])
    return rows


def klue_records(rows: list[list[str]], task: str, split: str) -> list[dict]:
    """KorSTS/KorNLI-style rows as KLUE's records (the fields the task reads, and a guid and source as KLUE has)."""
    records = []
    for index, row in enumerate(rows):
        record = {"guid": f"klue-{task}-v1_{split}_{index:05d}", "source": "koelectra-cookbook-samples"}
        if task == "sts":
            score = float(row[4])
            record.update(sentence1=row[5], sentence2=row[6],
                          labels={"label": round(score, 1), "real-label": score, "binary-label": int(score >= 3.0)})
        else:
            record.update(premise=row[0], hypothesis=row[1], gold_label=row[2])
        records.append(record)
    return records


def write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.write_text("\n".join("\t".join(row) for row in [header, *rows]) + "\n", encoding="utf-8")


def main() -> None:
    rng = random.Random(20261203)
    pool = sentences()
    sts = ["genre", "filename", "year", "id", "score", "sentence1", "sentence2"]
    for name, count in (("sts-train.tsv", 300), ("sts-dev.tsv", 60), ("sts-test.tsv", 60)):
        write(HERE / "korsts" / name, sts, sts_rows(pool, count, rng))
    nli = ["sentence1", "sentence2", "gold_label"]
    for name, count in (("multinli.train.ko.tsv", 150), ("snli_1.0_train.ko.tsv", 150), ("xnli.dev.ko.tsv", 60),
                        ("xnli.test.ko.tsv", 90)):
        write(HERE / "kornli" / name, nli, nli_rows(pool, count, rng))
    # KLUE last, so the files above stay as they were
    for task, make, splits in (("sts", sts_rows, (("train", 300), ("dev", 60))),
                               ("nli", nli_rows, (("train", 300), ("dev", 90)))):
        folder = HERE / f"klue-{task}"
        folder.mkdir(exist_ok=True)
        for split, count in splits:
            records = klue_records(make(pool, count, rng), task, split)
            (folder / f"klue-{task}-v1.1_{split}.json").write_text(
                json.dumps(records, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
