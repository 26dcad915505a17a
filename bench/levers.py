"""Single-process measurements of the speed levers that the side-by-side benchmark does not switch: attention
implementation, rows per training batch, torch.compile, evaluation batch size / token budget, bf16 autocast.

    python bench/benchmark.py --shape tiny --methods ours --no-startup   # once: builds the model and the rows
    python bench/levers.py                                                 # newest bench/out run; 1-2 minutes
    python bench/levers.py --compile                                       # adds torch.compile (slow to compile)

Every variant runs in this one process on the same prepared rows and model, one after another, with a plain
PyTorch loop (forward, backward, clipping, fused AdamW), so the figures compare the variants with each other.
A section is appended to docs/history/benchmarks-log.md. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import OUT_DIR, ROOT  # noqa: E402
from measure import load_prepared  # noqa: E402
from report import machine_description, versions  # noqa: E402

TIMED_STEPS = 150
WARMUP_STEPS = 20


def pad(rows: list, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(len(row) for row in rows)
    ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), longest), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.from_numpy(row.astype(np.int64))
        mask[i, : len(row)] = 1
    return ids, mask


def grouped_batches(ids: list, labels: np.ndarray, rows: int, count: int, pad_id: int, seed: int = 0) -> list:
    """`count` length-grouped training batches of `rows` rows, in shuffled order (as our sampler makes them)."""
    order = np.argsort([len(row) for row in ids], kind="stable")
    chunks = [order[i: i + rows] for i in range(0, len(order) - rows + 1, rows)]
    np.random.default_rng(seed).shuffle(chunks)
    chunks = (chunks * -(-count // len(chunks)))[:count]  # big batches: fewer than `count` in the rows, reuse some
    return [(*pad([ids[i] for i in chunk], pad_id), torch.from_numpy(labels[chunk])) for chunk in chunks]


def load_model(model_dir: Path, attention: str):
    from transformers import AutoModelForSequenceClassification, logging
    logging.set_verbosity_error()
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2, attn_implementation=attention)


def training_ms_per_row(model, batches: list, compile_model: bool = False) -> tuple[float, float]:
    """(seconds for the first WARMUP_STEPS steps, milliseconds per row over the timed steps after them)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, fused=True)
    model.train()
    forward = torch.compile(model, dynamic=True) if compile_model else model

    def step(input_ids, attention_mask, labels):
        loss = forward(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    start = time.perf_counter()
    for batch in batches[:WARMUP_STEPS]:
        step(*batch)
    warm = time.perf_counter() - start
    timed = batches[WARMUP_STEPS: WARMUP_STEPS + TIMED_STEPS]
    start = time.perf_counter()
    for batch in timed:
        step(*batch)
    rows = sum(len(batch[2]) for batch in timed)
    return warm, 1000 * (time.perf_counter() - start) / rows


def eval_batches_by_rows(lengths: np.ndarray, rows: int):
    order = np.argsort(lengths, kind="stable")
    return [order[i: i + rows] for i in range(0, len(order), rows)]


def eval_batches_by_tokens(lengths: np.ndarray, budget: int):
    """Length-sorted batches holding at most `budget` padded tokens each."""
    batches, current = [], []
    for index in np.argsort(lengths, kind="stable"):
        if current and lengths[index] * (len(current) + 1) > budget:
            batches.append(current)
            current = []
        current.append(index)
    return batches + ([current] if current else [])


def eval_samples_per_s(model, ids: list, batches: list, pad_id: int, bf16: bool = False) -> float:
    """Best of two passes of inference_mode forwards over the evaluation rows."""
    padded = [pad([ids[i] for i in batch], pad_id) for batch in batches]
    model.eval()
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for input_ids, attention_mask in padded:
                model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
        best = min(best, time.perf_counter() - start)
    return len(ids) / best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a bench/out/<time>-tiny folder (default: the newest with data)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (minutes on 2 cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "history" / "benchmarks-log.md")
    args = parser.parse_args()
    runs = sorted(p.parent for p in OUT_DIR.glob("*-tiny/data.npz"))
    run = args.run or (runs[-1] if runs else None)
    if run is None or not (run / "data.npz").is_file():
        raise SystemExit("error: no prepared rows; run `python bench/benchmark.py --shape tiny` first")
    job = json.loads((run / "job.json").read_text())
    (train_ids, train_labels), (eval_ids, _), pad_id = load_prepared(run / "data.npz")
    model_dir = Path(job["model_dir"])
    steps = WARMUP_STEPS + TIMED_STEPS
    lines = []

    def report(what: str, value: str) -> None:
        lines.append(f"| {what} | {value} |")
        print(f"  {what}: {value}", flush=True)

    for attention in ("sdpa", "eager"):
        warm, per_row = training_ms_per_row(load_model(model_dir, attention),
                                            grouped_batches(train_ids, train_labels, 32, steps, pad_id))
        report(f"training, batch 32, {attention} attention", f"{per_row:.3f} ms per row")
    for rows in (64, 128):
        _, per_row = training_ms_per_row(load_model(model_dir, "sdpa"),
                                         grouped_batches(train_ids, train_labels, rows, steps, pad_id))
        report(f"training, batch {rows} (fewer optimizer steps: another recipe)", f"{per_row:.3f} ms per row")
    if args.compile:
        warm, per_row = training_ms_per_row(load_model(model_dir, "sdpa"),
                                            grouped_batches(train_ids, train_labels, 32, steps, pad_id),
                                            compile_model=True)
        report("training, batch 32, torch.compile(dynamic=True)",
               f"{per_row:.3f} ms per row after {warm:.1f} s for the first {WARMUP_STEPS} steps")
    lengths = np.array([len(row) for row in eval_ids])
    model = load_model(model_dir, "sdpa")
    for label, batches in (("64 rows", eval_batches_by_rows(lengths, 64)),
                           ("256 rows", eval_batches_by_rows(lengths, 256)),
                           ("2,048-token budget", eval_batches_by_tokens(lengths, 2048)),
                           ("8,192-token budget", eval_batches_by_tokens(lengths, 8192))):
        report(f"evaluation, length-sorted batches of {label}",
               f"{eval_samples_per_s(model, eval_ids, batches, pad_id):,.0f} samples/s")
    report("evaluation, 64 rows, bf16 autocast",
           f"{eval_samples_per_s(model, eval_ids, eval_batches_by_rows(lengths, 64), pad_id, bf16=True):,.0f} "
           "samples/s")

    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    command = "python bench/levers.py" + (" --compile" if args.compile else "")
    section = "\n".join([
        f"## levers, tiny shape, cpu: {when}", "",
        f"- command: `{command}` on the rows and model of `{run.relative_to(ROOT)}`",
        f"- machine: {machine_description('cpu')}; {torch.get_num_threads()} torch thread(s) "
        f"(OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}); load average {os.getloadavg()[0]:.2f}",
        f"- software: {versions()}",
        f"- one process, a plain loop (forward, backward, clipping at 1.0, fused AdamW), {TIMED_STEPS} timed steps "
        f"after {WARMUP_STEPS} warm-up steps per training variant; evaluation: best of 2 passes over "
        f"{len(eval_ids):,} rows", "",
        "| variant | measured |", "|---|---|", *lines, ""])
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write("\n" + section)
    print(f"appended to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
