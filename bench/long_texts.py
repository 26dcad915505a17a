"""Long texts side by side: data.long_text truncate, head_tail and windows (mean and max) on the same documents, the
same from-scratch model shape and the same recipe, at equal epochs, in one invocation.

    python bench/long_texts.py --data-dir ../shared/data/petitions --vocab ../shared/vocab/koelectra-v1-vocab.txt
    python bench/long_texts.py --config config/ynat.yaml --data-dir ../shared/data/ynat --modes truncate,windows

For each max_seq_len and mode it runs `train_expert.py --config CONFIG` in a fresh process (the run's own
results.json gives the metrics and the training time), then times `Predictor` on the evaluation file's texts.
The windows model is also scored with `max` in place of `mean` (the same weights, only the combining differs).
Prints a markdown table and appends it to docs/history/benchmarks-log.md (--out).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

sys.path.insert(0, str(ROOT / "bench"))

from common import run_script  # noqa: E402
from koelectra_cookbook.classifier.tiny import build_tiny_electra  # noqa: E402
from koelectra_cookbook.inference.predictor import Predictor  # noqa: E402


def train(args, model: Path, length: int, mode: str, out: Path) -> Path:
    sets = {"model.name_or_path": model, "model.max_seq_len": length, "data.long_text": mode,
            "data.dir": args.data_dir, "data.cache_dir": out / "cache", "train.epochs": args.epochs,
            "train.learning_rate": args.learning_rate, "train.batch_size": 32, "train.warmup_ratio": 0.1,
            "train.es_patience": None, **dict(item.split("=", 1) for item in args.set)}
    return run_script("train_expert.py", ["--config", str(args.config), "--output-dir", str(out / "runs")], sets,
                      f"{mode}@{length}")


def scored(predictor: Predictor, texts: list[str], gold: list[str]) -> tuple[float, float, float]:
    started = time.perf_counter()
    probabilities = predictor.probabilities(texts)
    seconds = time.perf_counter() - started
    predicted = [predictor.label_names[i] for i in probabilities.argmax(-1)]
    return accuracy_score(gold, predicted), f1_score(gold, predicted, average="macro"), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "petitions.yaml")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--vocab", type=Path, required=True)
    parser.add_argument("--lengths", default="128")
    parser.add_argument("--modes", default="truncate,head_tail,windows")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--set", action="append", default=[], help="more --set key=value for every run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "history" / "benchmarks-log.md")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="long-texts-"))
    model = build_tiny_electra(scratch / "tiny", args.vocab, hidden_size=128, num_layers=2, num_heads=2)
    rows = []
    for length in map(int, args.lengths.split(",")):
        for mode in args.modes.split(","):
            run = train(args, model, length, mode, scratch)
            results = json.loads((run / "results.json").read_text())
            with open(run / "predictions.csv", newline="", encoding="utf-8") as handle:
                table = list(csv.DictReader(handle))
            texts, gold = [row["text"] for row in table], [row["label"] for row in table]
            predictor = Predictor(run / "model")
            combines = ["mean", "max"] if mode == "windows" else [predictor.long_text.combine]
            for how in combines:
                predictor.long_text = dataclasses.replace(predictor.long_text, combine=how)
                accuracy, macro_f1, seconds = scored(predictor, texts, gold)
                cut = predictor.last_cut
                rows.append({"max_seq_len": length, "mode": mode if mode != "windows" else f"windows ({how})",
                             "accuracy": accuracy, "macro_f1": macro_f1,
                             "train_s": results["train_runtime_s"], "rows_trained": results["long_texts"]["train"]["rows"],
                             "predict_s": seconds, "eval_rows": cut["rows"],
                             "dropped": cut["share_of_tokens_dropped"], "run_eval": results["eval"]})
                print(json.dumps(rows[-1]), flush=True)
    lines = [f"## Long texts ({time.strftime('%Y-%m-%d')}): `python bench/long_texts.py --config "
             f"{args.config.relative_to(ROOT) if args.config.is_relative_to(ROOT) else args.config} "
             f"--lengths {args.lengths} --modes {args.modes} --epochs {args.epochs}"
             + "".join(f" --set {item}" for item in args.set) + "` (tiny ELECTRA: hidden 128, 2 layers, from scratch)",
             "",
             "| max_seq_len | long_text | accuracy | macro-F1 | training s | training rows (windows) | "
             "prediction s | evaluation rows | tokens dropped |", "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['max_seq_len']} | {row['mode']} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} | "
                     f"{row['train_s']} | {row['rows_trained']} | {row['predict_s']:.2f} | {row['eval_rows']} | "
                     f"{row['dropped']:.1%} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write("\n" + text)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
