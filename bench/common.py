"""What the benchmark scripts share: where things go, the model shapes, the methods compared and the recipe
every method trains with. See bench/README.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"  # git-ignored: models, prepared data, per-run logs and JSON results

SHAPES = {  # ELECTRA discriminator shapes (randomly initialised)
    "tiny": dict(hidden=128, layers=2, heads=2, embedding=128, intermediate=512),
    "small": dict(hidden=256, layers=12, heads=4, embedding=128, intermediate=1024),  # KoELECTRA-small
    "base": dict(hidden=768, layers=12, heads=12, embedding=768, intermediate=3072),  # KoELECTRA-base
}
# Rows used when --train-rows / --eval-rows are not given: (train, eval) per shape and device kind.
DEFAULT_ROWS = {
    ("tiny", "cpu"): (20000, 5000), ("small", "cpu"): (3200, 2000), ("base", "cpu"): (640, 1000),
    ("tiny", "cuda"): (20000, 5000), ("small", "cuda"): (20000, 5000), ("base", "cuda"): (20000, 5000),
}
METHODS = {
    "ours": "ours: ExpertTrainer (length-grouped, shuffled batches)",
    "static": "static padding to 128, random batches (plain loop)",
    "hf_random": "HF Trainer, DataCollatorWithPadding, random batches",
    "hf_grouped": "HF Trainer, DataCollatorWithPadding, group_by_length",
    "hf_grouped_no_cudnn_attention": "the same, with cuDNN attention switched off as ours does (GPU only)",
    "hf_static": "HF Trainer, every row padded to 128 (DataCollatorWithPadding max_length), random batches",
}
GPU_ONLY_METHODS = {"hf_grouped_no_cudnn_attention"}  # identical to hf_grouped on a CPU
ON_REQUEST_METHODS = {"hf_static"}  # run when --methods names them (bench/loaded_cpu.py does)
BATCH_SIZE = 32
EVAL_BATCH_SIZE = 64  # our trainer's default (twice the training batch); used by every method
# Peak learning rate per shape: 5e-4 trains the 2-layer model from scratch; the 12-layer base shape stayed at
# chance with it (50% after one epoch on an H100, docs/history/benchmarks-log.md), so it gets BERT's pre-training rate.
LEARNING_RATES = {"tiny": 5e-4, "small": 5e-4, "base": 1e-4}
WEIGHT_DECAY = 0.01
WARMUP_RATIO = 0.1
MAX_GRAD_NORM = 1.0
MAX_SEQ_LEN = 128
LOG_EVERY = 50


def run_script(script: str, arguments: list[str], sets: dict, label: str) -> Path:
    """A project script (`train_expert.py`, `pretrain.py`, ...) in a fresh process with `arguments` and a `--set`
    for each of `sets` (None as null); its run directory, from its last line `run: ...`. A failure ends the
    benchmark with `label` and the script's output."""
    command = [sys.executable, str(ROOT / script), *arguments]
    for key, value in sets.items():
        command += ["--set", f"{key}={'null' if value is None else value}"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{label} failed:\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1].removeprefix("run: "))
