"""The GPU check's summary (bench/gpu.sh runs it): the training figures of bench/benchmark.py with each method's
share of the card's bf16 peak, and prediction speed with our Predictor on the same machine: full precision on the
GPU, the same under fp16 autocast, and int8 on its CPU. Writes one JSON file and one Markdown table.

    python bench/gpu_summary.py --training OUT/training.json --data-dir DIR --out OUT [--rows 5000]

The share of the peak counts the model's useful work: 6 x (parameters outside the embeddings) floating-point
operations per real (not padding) token trained on, plus the attention scores and their mixing (12 x layers x
hidden x mean length per token); padding and the embedding lookups are not counted. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from common import SHAPES  # noqa: E402

# Dense bf16 peaks of the cards' data sheets, FLOP/s (without sparsity). Published by NVIDIA, not measured here.
BF16_PEAKS = {"H100": 989.4e12, "H200": 989.4e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--training", type=Path, required=True, help="the JSON file benchmark.py --json wrote")
    parser.add_argument("--data-dir", type=Path, required=True, help="a folder with NSMC's ratings_test.txt")
    parser.add_argument("--rows", type=int, default=5000, help="test reviews predicted (default 5000)")
    parser.add_argument("--out", type=Path, required=True, help="folder for gpu.json and gpu.md")
    args = parser.parse_args(argv)

    import torch

    training = json.loads(args.training.read_text(encoding="utf-8"))
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (no GPU: a smoke run)"
    peak = next((value for name, value in BF16_PEAKS.items() if name in device), None)
    rows = []
    for method, result in training["results"].items():
        useful = flops_per_real_token(training["job"]["shape"], result) * result["train_real_tokens_per_s"]
        rows.append({"method": method, "train_samples_per_s": result["train_samples_per_s"],
                     "train_real_tokens_per_s": result["train_real_tokens_per_s"],
                     "padding": result["train"]["padding"], "accuracy": result["accuracy"],
                     "useful_tflops": useful / 1e12, "share_of_bf16_peak": useful / peak if peak else None})
    texts = read_texts(args.data_dir / "ratings_test.txt", args.rows)
    prediction = predict_speeds(Path(training["job"]["model_dir"]), texts)
    summary = {"device": device, "bf16_peak_flops": peak, "torch": torch.__version__,
               "training_command": training.get("command"), "job": training["job"], "training": rows,
               "prediction": prediction}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    markdown = render(summary)
    (args.out / "gpu.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    return 0


def flops_per_real_token(shape: str, result: dict) -> float:
    """The model's useful floating-point operations per real token trained on (forward and backward)."""
    dims = SHAPES[shape]
    hidden, layers, inner = dims["hidden"], dims["layers"], dims["intermediate"]
    body = layers * (4 * hidden * hidden + 2 * hidden * inner)  # attention projections and the feed-forward
    stats = result["train"]
    mean_length = stats["real_tokens"] / max(stats["rows"], 1)
    return 6 * body + 12 * layers * hidden * mean_length


def read_texts(path: Path, rows: int) -> list[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [row["document"] for row in reader if row["document"].strip()][:rows]


def predict_speeds(model_dir: Path, texts: list[str]) -> list[dict]:
    """Texts per second of Predictor on these texts: the model is the benchmark's base-shape ELECTRA given a
    classification head (random weights: the work is that of a fine-tuned one). Each is timed on a second pass,
    after a first that warms the kernels (and builds the int8 cache)."""
    import torch

    from koelectra_cookbook.inference.predictor import Predictor

    classifier = classifier_folder(model_dir)
    methods = [("full precision", None, None)]
    if torch.cuda.is_available():
        methods.append(("fp16 autocast", None, torch.float16))
    methods.append(("int8", "int8", None))
    results = []
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache  # the int8 model is built into a fresh cache
        for name, quantize, dtype in methods:
            predictor = Predictor(classifier, quantize=quantize)
            timings = []
            for _ in range(2):
                start = time.perf_counter()
                if dtype is None:
                    predictor.probabilities(texts)
                else:
                    with torch.autocast("cuda", dtype=dtype):
                        predictor.probabilities(texts)
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                timings.append(time.perf_counter() - start)
            device = "cpu" if quantize else str(predictor.processes.device())
            results.append({"method": name, "device": device, "texts": len(texts), "seconds": timings[-1],
                            "texts_per_s": len(texts) / timings[-1]})
            print(f"  predict, {name} on {device}: {len(texts) / timings[-1]:,.0f} texts/s", flush=True)
    return results


def classifier_folder(model_dir: Path) -> Path:
    """The benchmark's encoder saved once with a two-label head, as predict.py reads a fine-tuned model."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    target = model_dir.parent / f"{model_dir.name}-classifier"
    if not (target / "config.json").is_file():
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, num_labels=2, id2label={0: "negative", 1: "positive"},
            label2id={"negative": 0, "positive": 1})
        model.save_pretrained(target)
        AutoTokenizer.from_pretrained(model_dir).save_pretrained(target)
    return target


def render(summary: dict) -> str:
    job = summary["job"]
    lines = [f"### GPU check: {summary['device']}, torch {summary['torch']}", "",
             f"Training: shape {job['shape']}, {job['train_rows']} rows, {job['steps']} steps, batch 32, "
             f"{'bf16' if job['bf16'] else 'fp32'}; `{summary['training_command']}`", "",
             "| method | train samples/s | real tokens/s | padding | useful TFLOP/s | share of bf16 peak | accuracy |",
             "|---|---|---|---|---|---|---|"]
    for row in summary["training"]:
        share = f"{100 * row['share_of_bf16_peak']:.1f}%" if row["share_of_bf16_peak"] is not None else "n/a"
        lines.append(f"| {row['method']} | {row['train_samples_per_s']:,.1f} | {row['train_real_tokens_per_s']:,.0f} | "
                     f"{100 * row['padding']:.1f}% | {row['useful_tflops']:.2f} | {share} | {row['accuracy']:.4f} |")
    lines += ["", "| prediction | device | texts | texts/s |", "|---|---|---|---|"]
    for row in summary["prediction"]:
        lines.append(f"| {row['method']} | {row['device']} | {row['texts']} | {row['texts_per_s']:,.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
