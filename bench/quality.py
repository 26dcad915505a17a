"""Calibration, label issues and duplicates measured with from-scratch tiny ELECTRAs (KoELECTRA's vocabulary) on the
shared data. Prints markdown sections for docs/benchmarks.md.

    python bench/quality.py calibration --data ../shared/data --vocab ../shared/vocab/koelectra-v1-vocab.txt
    python bench/quality.py labels --task nsmc --data ../shared/data --vocab ../shared/vocab/koelectra-v1-vocab.txt
    python bench/quality.py duplicates --data ../shared/data

calibration: NSMC, YNAT, KorNLI (trained on its dev file: its train files are not here) and UnSmile, each trained
once with train.calibration on; UnSmile once more with it off (thresholds are tuned after calibration, so its F1
may move; a single-label model's predictions cannot). labels: 20,000 training rows, 10% of their labels flipped at
random (seed 0) to another label; audit.py's flagged rows against the flipped ones, beside the simplest peer (the
rows with the highest loss under one model trained on all the noisy rows, as many as audit.py flagged); then the
evaluation accuracy trained on the noisy rows, on them less the flagged rows, and on the clean rows.
duplicates: audit.py --checks duplicates on NSMC (150,000 + 50,000 rows), and on all 200,000 texts as training rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, ROOT, SHAPES  # noqa: E402

OUT = OUT_DIR / "quality"
RECIPE = {"train.epochs": 2, "train.batch_size": 32, "train.learning_rate": 5e-4, "train.eval_every": 200,
          "data.download": "false"}


def tiny_model(vocab: Path) -> Path:
    from koelectra_cookbook.classifier.tiny import build_tiny_electra

    model = OUT / "tiny"
    if not (model / "config.json").is_file():
        shape = SHAPES["tiny"]
        build_tiny_electra(model, vocab, hidden_size=shape["hidden"], num_layers=shape["layers"],
                           num_heads=shape["heads"], embedding_size=shape["embedding"],
                           intermediate_size=shape["intermediate"])
    return model


def run(script: str, arguments: list[str], sets: dict, label: str) -> tuple[Path, str, float]:
    """A project script in a fresh process; its run folder (last line), its output and its wall time."""
    command = [sys.executable, str(ROOT / script), *arguments]
    for key, value in sets.items():
        command += ["--set", f"{key}={'null' if value is None else value}"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{label} failed:\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1].removeprefix("run: ")), result.stdout, \
        time.perf_counter() - started


# --- calibration -------------------------------------------------------------------------------------------

def accuracy(bins: list[dict]) -> float:
    """Top-1 accuracy from the reliability bins (each bin's rows times its share right)."""
    return sum(b["count"] * b["accuracy"] for b in bins) / sum(b["count"] for b in bins)


def calibration(args) -> None:
    model = tiny_model(args.vocab)
    data = args.data.resolve()
    runs = [
        ("NSMC", "train_expert.py", "nsmc", {"data.dir": data / "nsmc", "data.max_train_samples": 20000,
                                             "data.max_eval_samples": 5000}),
        ("KLUE-YNAT", "train_expert.py", "ynat", {"data.dir": data / "ynat", "data.max_train_samples": 20000}),
        ("KorNLI", "train_expert.py", "kornli", {"data.dir": data / "kornli", "data.train_file": "xnli.dev.ko.tsv",
                                                 "data.dev_file": '""', "data.dev_split": 0.1,
                                                 "train.epochs": 5}),
        ("UnSmile", "train_multi_label.py", "unsmile", {"data.dir": data / "unsmile"}),
    ]
    print("| data | temperature | dev ECE before -> after | eval ECE before -> after | eval Brier before -> after "
          "| eval NLL before -> after | eval accuracy before / after |\n|---|---|---|---|---|---|---|")
    for name, script, task, sets in runs:
        sets = {**RECIPE, "model.name_or_path": model, "data.cache_dir": OUT / "cache", **sets}
        folder, _, seconds = run(script, ["--task", task, "--output-dir", str(OUT / "runs")], sets, name)
        results = json.loads((folder / "results.json").read_text())
        c = results["calibration"]
        temperature = (f"{c['temperature']:.3f}" if not isinstance(c["temperature"], list) else
                       f"{min(c['temperature']):.2f} to {max(c['temperature']):.2f} ({sum(c['kept'])} of "
                       f"{len(c['kept'])} labels kept)")
        if not isinstance(c["kept"], list) and not c["kept"]:
            temperature = f"{c['fitted']:.3f} fitted, not kept"
        line = [name, temperature,
                *(f"{c[split]['before'][key]:.4f} -> {c[split]['after'][key]:.4f}"
                  for split, key in (("dev", "ece"), ("eval", "ece"), ("eval", "brier"), ("eval", "nll")))]
        if task == "unsmile":
            off, _, _ = run(script, ["--task", task, "--output-dir", str(OUT / "runs")],
                            {**sets, "train.calibration": "false"}, name + " without calibration")
            raw = json.loads((off / "results.json").read_text())["eval"]
            line.append(f"macro-F1 {raw['macro_f1']:.4f} / {results['eval']['macro_f1']:.4f} (run without / with)")
        else:
            line.append(f"{accuracy(c['eval']['before']['bins']):.4f} / {accuracy(c['eval']['after']['bins']):.4f} "
                        f"(run's {results['eval']['accuracy']:.4f})")
        print("| " + " | ".join(line) + " |", flush=True)
        print(f"<!-- {name}: {folder} ({seconds:.0f} s) -->", flush=True)


# --- label issues ------------------------------------------------------------------------------------------

def noisy_dataset(task: str, data: Path, rows: int, share: float) -> tuple[Path, Path, np.ndarray]:
    """`rows` training rows of the task as a CSV (text,label), a copy with `share` of the labels flipped to
    another label at random (seed 0), and the flipped rows' CSV lines; the task's evaluation file as a CSV."""
    from koelectra_cookbook.commands.train import parse_args
    from koelectra_cookbook.config.resolve import resolve_config
    from koelectra_cookbook.data.dataset import read_named_rows

    config = resolve_config(parse_args("", ["--task", task, "--set", f"data.dir={data / task}", "--set",
                                            "data.download=false"], False))
    every, _, evaluation, sources, _ = read_named_rows(config)
    random = np.random.default_rng(0)
    chosen = np.sort(random.choice(len(every.texts), rows, replace=False))
    labels = every.labels[chosen].copy()
    flipped = np.sort(random.choice(rows, int(rows * share), replace=False))
    classes = len(sources.label_names)
    labels[flipped] = (labels[flipped] + random.integers(1, classes, len(flipped))) % classes
    folder = OUT / f"{task}-noise"
    folder.mkdir(parents=True, exist_ok=True)
    names = sources.label_names

    def write(name: str, texts: list[str], ids: np.ndarray) -> None:
        with open(folder / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerows((text, names[int(i)]) for text, i in zip(texts, ids))

    texts = [every.texts[i] for i in chosen]
    write("clean.csv", texts, every.labels[chosen])
    write("noisy.csv", texts, labels)
    write("eval.csv", evaluation.texts, evaluation.labels)
    configs = []
    for kind in ("clean", "noisy"):
        config_file = folder / f"{kind}.yaml"
        config_file.write_text(json.dumps({"task": f"{task}-{kind}", "data": {
            "dir": str(folder), "train_file": f"{kind}.csv", "eval_file": "eval.csv", "labels": names,
            "max_eval_samples": 5000}}, ensure_ascii=False), encoding="utf-8")
        configs.append(config_file)
    return configs[0], configs[1], flipped + 2  # CSV line of row i: the header is line 1


def labels(args) -> None:
    model = tiny_model(args.vocab)
    clean, noisy, flipped_lines = noisy_dataset(args.task, args.data.resolve(), args.rows, 0.1)
    sets = {**RECIPE, "model.name_or_path": model, "data.cache_dir": OUT / "cache"}
    audit, output, audit_seconds = run("audit.py", ["--config", str(noisy), "--output-dir", str(OUT / "runs"),
                                                    "--folds", str(args.folds)], sets, "audit")
    flagged = flagged_lines(audit)
    flipped = set(flipped_lines.tolist())

    def precision_recall(lines: list[int]) -> tuple[float, float]:
        hits = len(flipped & set(lines))
        return hits / max(len(lines), 1), hits / len(flipped)

    noisy_run, _, _ = run("train_expert.py", ["--config", str(noisy), "--output-dir", str(OUT / "runs")], sets, "noisy")
    peer = highest_loss_rows(noisy_run / "model", noisy, len(flagged))
    listed = OUT / f"{args.task}-noise" / "flagged.csv"
    listed.write_text((audit / "label_issues.csv").read_text(encoding="utf-8"), encoding="utf-8")
    cleaned_run, _, _ = run("train_expert.py", ["--config", str(noisy), "--output-dir", str(OUT / "runs")],
                            {**sets, "data.exclude": listed}, "cleaned")
    clean_run, _, _ = run("train_expert.py", ["--config", str(clean), "--output-dir", str(OUT / "runs")], sets, "clean")
    accuracy_of = {name: json.loads((folder / "results.json").read_text())["eval"]["accuracy"]
                   for name, folder in (("noisy", noisy_run), ("cleaned", cleaned_run), ("clean", clean_run))}
    ours, theirs = precision_recall(flagged), precision_recall(peer)
    top = len(flipped)  # the same question asked of both rankings at the true count of flipped rows
    ours_top, theirs_top = precision_recall(flagged[:top]), precision_recall(highest_loss_rows(noisy_run / "model",
                                                                                               noisy, top))
    print(f"{args.task}: {args.rows} training rows, {len(flipped)} labels flipped; audit.py --folds {args.folds}: "
          f"{audit_seconds:.0f} s")
    print("| flagging | rows flagged | precision | recall |\n|---|---|---|---|")
    print(f"| audit.py (cleanlab, {args.folds}-fold out-of-fold probabilities) | {len(flagged)} | {ours[0]:.3f} | "
          f"{ours[1]:.3f} |")
    print(f"| highest training loss of one model trained on every row (as many rows) | {len(peer)} | {theirs[0]:.3f} "
          f"| {theirs[1]:.3f} |")
    print(f"| audit.py's {top} most suspect rows (as many as were flipped) | {min(top, len(flagged))} | "
          f"{ours_top[0]:.3f} | {ours_top[1]:.3f} |")
    print(f"| the {top} rows of highest training loss | {top} | {theirs_top[0]:.3f} | {theirs_top[1]:.3f} |")
    print("\n| trained on | evaluation accuracy |\n|---|---|")
    print(f"| the noisy rows | {accuracy_of['noisy']:.4f} |\n| the noisy rows less audit.py's flagged rows "
          f"(data.exclude) | {accuracy_of['cleaned']:.4f} |\n| the clean rows | {accuracy_of['clean']:.4f} |")
    print(f"<!-- audit {audit}; runs {noisy_run}, {cleaned_run}, {clean_run} -->")


def rescore(args) -> None:
    """The top-of-the-ranking rows of a finished `labels` part: --audit AUDIT_DIR --noisy-run RUN_DIR."""
    _, noisy, flipped_lines = noisy_dataset(args.task, args.data.resolve(), args.rows, 0.1)
    flipped = set(flipped_lines.tolist())
    flagged = flagged_lines(args.audit)
    top = len(flipped)
    for name, lines in (("audit.py's most suspect rows", flagged[:top]),
                        ("rows of highest training loss", highest_loss_rows(args.noisy_run / "model", noisy, top))):
        hits = len(flipped & set(lines))
        print(f"| {name}: the first {top} | {len(lines)} | {hits / len(lines):.3f} | {hits / top:.3f} |")


def flagged_lines(audit: Path) -> list[int]:
    """The CSV lines of audit.py's flagged rows, most suspect first."""
    with open(audit / "label_issues.csv", newline="", encoding="utf-8") as handle:
        return [int(row["line"]) for row in csv.DictReader(handle)]


def highest_loss_rows(model: Path, config: Path, count: int) -> list[int]:
    """The CSV lines of the `count` training rows whose given label has the lowest probability under `model`."""
    from koelectra_cookbook.inference.predictor import Predictor

    with open(config.with_name("noisy.csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    predictor = Predictor(model)
    probabilities = predictor.probabilities([row["text"] for row in rows])
    given = np.array([predictor.label_names.index(row["label"]) for row in rows])
    loss = -np.log(np.clip(probabilities[np.arange(len(rows)), given], 1e-12, 1))
    return (np.argsort(-loss, kind="stable")[:count] + 2).tolist()


# --- duplicates --------------------------------------------------------------------------------------------

def duplicates(args) -> None:
    nsmc = args.data.resolve() / "nsmc"
    for label, sets in (("NSMC train 150,000 / test 50,000", {}),
                        ("all 200,000 NSMC texts as training rows",
                         {"data.train_file": "[ratings_train.txt, ratings_test.txt]"})):
        folder, output, seconds = run("audit.py", ["--task", "nsmc", "--checks", "duplicates", "--output-dir",
                                                   str(OUT / "runs")],
                                      {"data.dir": nsmc, "data.download": "false", **sets}, label)
        print(f"{label}: {seconds:.1f} s for the whole command")
        print("\n".join(line for line in output.splitlines() if line.startswith(("duplicates:", "leaks:"))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=("calibration", "labels", "duplicates", "rescore"))
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder (nsmc/, ynat/, ...)")
    parser.add_argument("--vocab", type=Path, help="KoELECTRA's vocab.txt")
    parser.add_argument("--task", default="nsmc", choices=("nsmc", "ynat"))
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--audit", type=Path, help="rescore: the audit folder of a finished labels part")
    parser.add_argument("--noisy-run", type=Path, help="rescore: its run on the noisy rows")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    {"calibration": calibration, "labels": labels, "duplicates": duplicates, "rescore": rescore}[args.part](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
