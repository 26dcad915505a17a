"""Training on a CPU that another process keeps busy: whole-process times, side by side in one run.

    python bench/loaded_cpu.py --data-dir ../shared/data/nsmc --vocab ../shared/vocab/koelectra-v1-vocab.txt

Cases, each a fresh process timed from start to exit (the recipe, rows and model of bench/benchmark.py, expert
level, one epoch): ours on an idle machine; then, with one busy process (a Python loop, standing in for a browser
or another job) running beside it: ours with `train.num_threads: auto` (OMP_NUM_THREADS unset), ours with
torch's default thread count forced (the behaviour before `auto`), and the Hugging Face Trainer with static
padding to 128 (torch's default threads). Appends a section to docs/history/benchmarks-log.md. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark import make_job, spawn  # noqa: E402
from common import METHODS, ROOT  # noqa: E402

BUSY_LOOP = "while True: pass"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="NSMC files (default: the bundled samples, repeated)")
    parser.add_argument("--vocab", type=Path, help="a WordPiece vocab.txt (e.g. KoELECTRA's)")
    parser.add_argument("--train-rows", type=int, default=20000)
    parser.add_argument("--eval-rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip-default-threads", action="store_true",
                        help="leave out ours with torch's default thread count under load (saves ~90 s)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "history" / "benchmarks-log.md")
    args = parser.parse_args()
    job_args = argparse.Namespace(shape="tiny", seed=args.seed, bf16=False, learning_rate=None, vocab=args.vocab,
                                  data_dir=args.data_dir, train_rows=args.train_rows, eval_rows=args.eval_rows,
                                  steps=None, epochs=None, threads="default")
    job, job_file, work_dir, data_source = make_job(job_args, "cpu")
    spawn("prepare", job_file, work_dir, "cpu", threads=None)  # builds the model, fills the token cache
    cores = len(os.sched_getaffinity(0))
    print(f"loaded-CPU benchmark: {job['train_rows']} train / {job['eval_rows']} eval rows, {job['steps']} steps, "
          f"{cores} cores; logs in {work_dir}", flush=True)

    cases = [("ours, idle (auto)", "ours", None, False),
             ("ours, 1 busy process (auto)", "ours", None, True)]
    if not args.skip_default_threads:
        cases.append((f"ours, 1 busy process ({cores} threads, the default before auto)", "ours", cores, True))
    cases.append(("HF Trainer static padding, 1 busy process (torch's default threads)", "hf_static", None, True))
    rows = []
    for label, worker, threads, loaded in cases:
        busy = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if loaded else None
        try:
            time.sleep(1.0 if loaded else 0.0)  # let the busy process take its core before we start
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            result = spawn(worker, job_file, work_dir, "cpu", threads=threads, name=f"{worker}-{len(rows)}")
            wall = time.perf_counter() - started
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        threads_line = chosen_threads(work_dir / f"{worker}-{len(rows)}.log")
        rows.append({"case": label, "worker": worker, "wall_s": wall, "accuracy": result["accuracy"],
                     "train_s": result["train_time_s"], "torch_threads": result["torch_threads"],
                     "threads_line": threads_line, "load_before": load_before})
        print(f"  {label}: {wall:.1f} s whole process, {result['train_time_s']:.1f} s training, accuracy "
              f"{result['accuracy']:.4f}, torch threads at the end {result['torch_threads']}"
              f"{'; ' + threads_line if threads_line else ''}", flush=True)

    section = render(rows, job, data_source, cores)
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write("\n" + section)
    (work_dir / "loaded_cpu.json").write_text(json.dumps(rows, indent=1))
    print(section)
    return 0


def chosen_threads(log: Path) -> str:
    """What our trainer printed about its thread count (`CPU threads: ...`), if anything."""
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if "CPU threads:" in line]
    return "; ".join(lines)


def render(rows: list[dict], job: dict, data_source: str, cores: int) -> str:
    idle = rows[0]["wall_s"]
    ours_loaded = rows[1]["wall_s"]
    peer = next(r for r in rows if r["worker"] == "hf_static")["wall_s"]
    lines = [
        f"## Training on a busy CPU ({datetime.date.today()})",
        "",
        f"`python bench/loaded_cpu.py` with {data_source}; tiny shape, {job['train_rows']} train / "
        f"{job['eval_rows']} eval rows, {job['steps']} steps (one epoch), batch 32, {cores} cores. Whole-process "
        f"wall time, each case a fresh process; \"busy\" = one `python -c \"{BUSY_LOOP}\"` running beside it. "
        f"{METHODS['hf_static']}.",
        "",
        "| case | whole process (s) | training (s) | accuracy | threads |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['case']} | {row['wall_s']:.1f} | {row['train_s']:.1f} | {row['accuracy']:.4f} | "
                     f"{row['threads_line'] or row['torch_threads']} |")
    lines += [
        "",
        f"- ours under load vs the HF static peer under load: **{peer / ours_loaded:.2f}x** (target >= 5x)",
        f"- ours under load vs ours idle: **{ours_loaded / idle:.2f}x** the idle time (target <= 1.6x)",
    ]
    if len(rows) == 4:
        lines.append(f"- `auto` vs torch's default thread count under load: {rows[2]['wall_s'] / ours_loaded:.2f}x")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
