"""Prediction speed on the CPU, whole process, side by side: transformers.pipeline("text-classification",
batch_size=64), our predict.py in full precision, and predict.py --quantize int8 (first call, which builds the
int8 model into an empty cache, then a second call with the cache warm); and, on a trained model, how often
int8 agrees with full precision and the accuracy of each.

    python bench/predict_speed.py --data-dir ../shared/data/nsmc --vocab ../shared/vocab/koelectra-v1-vocab.txt \\
        --quality-model RUN_DIR/model          # appends a section to docs/history/benchmarks-log.md

Speed uses KoELECTRA-base's shape (random weights: the work is the same as for the real checkpoint). Each
method is a fresh Python process timed from start to exit, so imports, loading and tokenizing count; the methods
alternate within each repeat, and the load average is recorded around every run. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from common import OUT_DIR, ROOT, SHAPES  # noqa: E402

METHODS = {
    "pipeline": 'transformers.pipeline("text-classification", batch_size=64)',
    "ours_fp32": "predict.py",
    "ours_int8_first": "predict.py --quantize int8, first call (builds the int8 model into an empty cache)",
    "ours_int8_cached": "predict.py --quantize int8, second call (cache warm)",
}
PIPELINE_SCRIPT = """
import csv, sys
from transformers import pipeline
texts = open(sys.argv[2], encoding="utf-8").read().split("\\n")[:-1]
classify = pipeline("text-classification", model=sys.argv[1], batch_size=64, device=-1)
rows = classify(texts, truncation=True, max_length=128)
with open(sys.argv[3], "w", newline="", encoding="utf-8") as handle:
    writer = csv.writer(handle)
    writer.writerow(["text", "prediction", "score"])
    writer.writerows((t, r["label"], f"{r['score']:.6f}") for t, r in zip(texts, rows))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="NSMC folder (ratings_test.txt)")
    parser.add_argument("--vocab", type=Path, required=True, help="KoELECTRA's vocab.txt, for the base shape")
    parser.add_argument("--rows", type=int, default=2000, help="test reviews timed (default 2000)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all methods (default 1)")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset ('' for none: "
                                                                      "only the quality check)")
    parser.add_argument("--quality-model", type=Path, help="a trained model folder: int8 vs fp32 on the test file")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "history" / "benchmarks-log.md")
    args = parser.parse_args(argv)

    work = OUT_DIR / f"predict-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    work.mkdir(parents=True)
    reviews = read_test_file(args.data_dir / "ratings_test.txt")
    texts_file = work / "reviews.txt"
    texts_file.write_text("".join(text + "\n" for text, _ in reviews[:args.rows]), encoding="utf-8")
    model = base_classifier(args.vocab)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    timings = {method: [] for method in methods}
    outputs = {}
    for repeat in range(args.repeats):
        cache = Path(tempfile.mkdtemp(prefix="int8-cache-", dir=work))  # empty for the first int8 call
        if "ours_int8_cached" in methods and "ours_int8_first" not in methods:  # fill the cache, untimed
            time_process(command("ours_int8_first", model, texts_file, work / "untimed.csv"), cache)
        for method in methods:
            output = work / f"{method}-{repeat}.csv"
            record = time_process(command(method, model, texts_file, output), cache)
            timings[method].append(record)
            outputs[method] = output
            print(f"{method}: {record['seconds']:.1f} s (load {record['load_before']} -> {record['load_after']})",
                  flush=True)
    agreement = {method: agrees_with(outputs[method], outputs["ours_fp32"]) for method in methods
                 if method != "ours_fp32" and "ours_fp32" in outputs}
    quality = measure_quality(args.quality_model, reviews, work) if args.quality_model else None
    section = render(args, model, timings, agreement, quality)
    (work / "results.json").write_text(json.dumps({"timings": timings, "agreement": agreement, "quality": quality},
                                                  indent=2))
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write(section)
    print(section)
    return 0


def read_test_file(path: Path) -> list[tuple[str, str]]:
    """(review, gold label) of the non-empty reviews, in file order."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(row["document"], row["label"]) for row in rows if row["document"].strip()]


def base_classifier(vocab: Path, shape_name: str = "base") -> Path:
    """A classifier of one of SHAPES (KoELECTRA-base unless told) with random weights (two labels), built once
    into bench/out/."""
    target = OUT_DIR / "models" / ("base-classifier" if shape_name == "base" else f"{shape_name}-classifier")
    if (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from koelectra_cookbook.files.atomic import atomic_folder
    from koelectra_cookbook.classifier.tiny import build_tiny_electra

    shape = SHAPES[shape_name]
    with tempfile.TemporaryDirectory() as encoder, atomic_folder(target) as building:
        build_tiny_electra(Path(encoder), vocab, shape["hidden"], shape["layers"], shape["heads"],
                           embedding_size=shape["embedding"], intermediate_size=shape["intermediate"])
        torch.manual_seed(0)
        labels = ["negative", "positive"]
        AutoModelForSequenceClassification.from_pretrained(
            encoder, num_labels=2, id2label=dict(enumerate(labels)),
            label2id={n: i for i, n in enumerate(labels)}).save_pretrained(building)
        AutoTokenizer.from_pretrained(encoder).save_pretrained(building)
    return target


def command(method: str, model: Path, texts: Path, output: Path) -> list[str]:
    if method == "pipeline":
        return [sys.executable, "-c", PIPELINE_SCRIPT, str(model), str(texts), str(output)]
    quantize = ["--quantize", "int8"] if method.startswith("ours_int8") else []
    return [sys.executable, str(ROOT / "predict.py"), "--model", str(model), "--input", str(texts),
            "--output", str(output), *quantize]


def time_process(argv: list[str], cache: Path) -> dict:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(ROOT / "src")}
    before = load_average()
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:3])} failed:\n{result.stderr[-2000:]}")
    return {"seconds": seconds, "load_before": before, "load_after": load_average()}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def predictions(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [row["prediction"] for row in csv.DictReader(handle)]


def agrees_with(path: Path, reference: Path) -> float:
    ours, theirs = predictions(path), predictions(reference)
    return sum(a == b for a, b in zip(ours, theirs)) / len(theirs)


def measure_quality(model: Path, reviews: list[tuple[str, str]], work: Path) -> dict:
    """predict.py with and without --quantize int8 on every test review of a trained model."""
    texts = work / "quality.txt"
    texts.write_text("".join(text + "\n" for text, _ in reviews), encoding="utf-8")
    cache = Path(tempfile.mkdtemp(prefix="int8-cache-", dir=work))
    names = {}
    for method in ("ours_fp32", "ours_int8_first"):
        output = work / f"quality-{method}.csv"
        time_process(command(method, model, texts, output), cache)
        names[method] = predictions(output)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    gold = [config["id2label"][label] for _, label in reviews]  # NSMC's 0/1 are the model's label ids
    accuracy = {m: sum(p == g for p, g in zip(names[m], gold)) / len(gold) for m in names}
    agreement = sum(a == b for a, b in zip(names["ours_fp32"], names["ours_int8_first"])) / len(gold)
    return {"model": str(model), "rows": len(gold), "accuracy_fp32": accuracy["ours_fp32"],
            "accuracy_int8": accuracy["ours_int8_first"], "agreement": agreement}


def seconds(records: list[dict]) -> str:
    return ", ".join(f"{r['seconds']:.1f}" for r in records)


def loads(records: list[dict]) -> str:
    return "; ".join(f"{r['load_before']} -> {r['load_after']}" for r in records)


def render(args, model: Path, timings: dict, agreement: dict, quality: dict | None) -> str:
    import onnxruntime
    import torch
    import transformers

    now = datetime.datetime.now(datetime.timezone.utc)
    best = {method: min(r["seconds"] for r in records) for method, records in timings.items()}
    title = "prediction speed, base shape" if timings else "int8 against fp32 on a trained model"
    measured = (f"{args.rows} NSMC test reviews, KoELECTRA-base shape (random weights), whole process each, best of "
                f"{args.repeats}." if timings else "")
    lines = [f"\n## {title}, cpu: {now:%Y-%m-%d %H:%M} UTC\n",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}, transformers {transformers.__version__}, onnxruntime {onnxruntime.__version__}, "
             f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}. {measured}\n",
             f"Command: `python bench/predict_speed.py --data-dir {args.data_dir} --vocab {args.vocab} "
             + (f"--rows {args.rows} --repeats {args.repeats} --methods {args.methods}" if timings else '--methods ""')
             + (f" --quality-model {args.quality_model}`\n" if args.quality_model else "`\n")]
    if timings:
        lines += ["| method | seconds (each run) | rows/s | vs pipeline | predictions equal to predict.py fp32 | "
                  "load average before -> after |", "|---|---|---:|---:|---:|---|"]
    for method, records in timings.items():
        ratio = f"{best['pipeline'] / best[method]:.2f}x" if "pipeline" in best else ""
        agree = f"{agreement[method]:.4f}" if method in agreement else "-"
        lines.append(f"| {METHODS[method]} | {seconds(records)} | "
                     f"{args.rows / best[method]:.1f} | {ratio} | {agree} | {loads(records)} |")
    if quality:
        lines += ["", f"Quality on a trained model ({quality['model']}), all {quality['rows']} non-empty NSMC test "
                      f"reviews: accuracy fp32 {quality['accuracy_fp32']:.4f}, int8 {quality['accuracy_int8']:.4f} "
                      f"({100 * (quality['accuracy_int8'] - quality['accuracy_fp32']):+.2f} points); int8 agrees "
                      f"with fp32 on {quality['agreement']:.4f} of the reviews."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
