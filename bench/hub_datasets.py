"""The same YNAT run from KLUE's raw JSON files and from a Parquet layout of them (a local folder laid out as the
klue/klue dataset repository, written by `datasets`, read back through `load_dataset`): the rows, labels and metrics
must be the same; the time from the command to the first training step is measured for both.

    python bench/hub_datasets.py --data ../shared/data/ynat --vocab ../shared/vocab/koelectra-v1-vocab.txt

Prints a markdown section for docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, ROOT  # noqa: E402

README = """---
configs:
- config_name: ynat
  data_files:
  - split: train
    path: ynat/train-*
  - split: validation
    path: ynat/validation-*
---
"""


def parquet_layout(data_dir: Path, target: Path) -> Path:
    """KLUE-YNAT's two JSON files as klue/klue's ynat configuration (a ClassLabel in KLUE's order)."""
    import datasets

    from koelectra_cookbook.config.tasks import task_spec

    names = task_spec("ynat").data_defaults["labels"]
    features = datasets.Features({"guid": datasets.Value("string"), "title": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=names)})
    for split, name in [("train", "ynat-v1.1_train.json"), ("validation", "ynat-v1.1_dev.json")]:
        records = json.loads((data_dir / name).read_text(encoding="utf-8"))
        table = datasets.Dataset.from_dict({"guid": [r["guid"] for r in records], "title": [r["title"] for r in records],
                                            "label": [names.index(r["label"]) for r in records]}, features=features)
        (target / "ynat").mkdir(parents=True, exist_ok=True)
        table.to_parquet(target / "ynat" / f"{split}-00000-of-00001.parquet")
    (target / "README.md").write_text(README, encoding="utf-8")
    return target


def timed_run(label: str, sets: list[str], model: Path, out: Path) -> dict:
    """train_beginner.py --task ynat with `sets`: seconds to the first training step (the progress bar's first
    line), the run's results and predictions."""
    command = [sys.executable, str(ROOT / "train_beginner.py"), "--task", "ynat", "--output-dir", str(out / label),
               "--set", f"model.name_or_path={model}", "--set", f"data.cache_dir={out / label / 'cache'}",
               "--set", "train.max_steps=50", "--set", "train.batch_size=32", "--set", "train.learning_rate=1e-3"]
    for setting in sets:
        command += ["--set", setting]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first_step, lines = None, []
    for line in process.stdout:
        lines.append(line)
        if first_step is None and re.search(r"training:.*\b[1-9]\d*/\d+", line):
            first_step = time.perf_counter() - started
    if process.wait() != 0:
        sys.exit(f"{label} failed:\n{''.join(lines)[-3000:]}")
    run = Path(lines[-1].strip().removeprefix("run: "))
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    header = next(line.strip() for line in lines if line.startswith("task ynat"))
    return {"first_step_s": first_step, "results": results, "header": header,
            "predictions": (run / "predictions.csv").read_text(encoding="utf-8")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="the folder of KLUE-YNAT's two JSON files")
    parser.add_argument("--vocab", type=Path, required=True)
    args = parser.parse_args()
    out = OUT_DIR / "hub-datasets"
    model = out / "tiny"
    if not (model / "config.json").is_file():
        subprocess.run([sys.executable, "-m", "koelectra_cookbook.classifier.tiny", "--out", str(model), "--vocab",
                        str(args.vocab)], check=True, capture_output=True)
    folder = parquet_layout(args.data, out / "klue")
    files = timed_run("files", [f"data.dir={args.data.resolve()}", "data.download=false"], model, out)
    hub = timed_run("parquet", ["data.source=hub", f"data.dataset={folder}"], model, out)
    same = files["predictions"] == hub["predictions"] and files["results"]["eval"] == hub["results"]["eval"]
    print(f"files:   {files['header']}\nparquet: {hub['header']}")
    print("| source | rows and labels | eval macro-F1 | eval loss | to the first step |\n|---|---|---|---|---|")
    for name, run in [("KLUE's JSON files", files), ("Parquet through `datasets`", hub)]:
        print(f"| {name} | {run['header'].split(': ', 1)[1]} | {run['results']['eval']['macro_f1']:.4f} | "
              f"{run['results']['eval']['loss']:.4f} | {run['first_step_s']:.1f} s |")
    print(f"\nsame predictions and evaluation metrics: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
