"""Training and evaluation throughput, side by side: our ExpertTrainer, a static-padding PyTorch loop, and the
Hugging Face Trainer (random batches, and group_by_length), on the same rows, model shape and recipe.

    python bench/benchmark.py --shape tiny                 # 6-8 minutes on 2 CPU cores; appends to docs/history/benchmarks-log.md
    python bench/benchmark.py --shape small --train-rows 3200 --eval-rows 2000
    python bench/benchmark.py --shape base --device cuda --bf16

Every method runs in its own fresh Python process (so peak memory is its own, and no method inherits another's
warm caches or allocator state); the processes run one after another inside this one invocation, and every
figure in the markdown comes from them. See bench/README.md for what is measured and how.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package: its modules sit beside this
from common import (BATCH_SIZE, DEFAULT_ROWS, GPU_ONLY_METHODS, LEARNING_RATES, METHODS,  # noqa: E402
                    ON_REQUEST_METHODS, OUT_DIR, ROOT, SHAPES, WARMUP_RATIO)
from report import render_markdown  # noqa: E402

from koelectra_cookbook.data.download import count_rows  # noqa: E402
from workers import WORKERS, run_worker  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--train-rows", type=int, help="training rows (default: 20000 for tiny; see README)")
    parser.add_argument("--eval-rows", type=int, help="held-out evaluation rows (default: 5000 for tiny)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="optimizer steps (default: one epoch)")
    length.add_argument("--epochs", type=int, help="epochs over the training rows (default 1)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast in every method")
    parser.add_argument("--threads", default="auto",
                        help="CPU threads per worker (OMP_NUM_THREADS): a number, 'default' (torch's choice), or "
                             "'auto' (default): torch's choice, but 1 when the load average shows other work")
    parser.add_argument("--learning-rate", type=float, help="peak learning rate for every method "
                                                              "(default: 5e-4, 1e-4 for the base shape)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--methods", help=f"comma-separated subset of {', '.join(METHODS)} (default: all; "
                                           f"{', '.join(GPU_ONLY_METHODS)} only on a GPU)")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up measurement")
    parser.add_argument("--data-dir", type=Path, help="a folder with NSMC's ratings_train.txt / ratings_test.txt "
                                                       "(default: the bundled samples, repeated: not real data)")
    parser.add_argument("--vocab", type=Path, help="a WordPiece vocab.txt for the model, e.g. KoELECTRA's "
                                                    "(default: one learnt from the bundled samples)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "history" / "benchmarks-log.md",
                        help="markdown file a section is appended to")
    parser.add_argument("--json", type=Path, help="also write every figure (job, results) to this JSON file")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args.worker, args.job, args.result)
        return 0

    device_kind = resolve_device_kind(args.device)
    if args.methods:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    else:
        methods = [m for m in METHODS if (device_kind == "cuda" or m not in GPU_ONLY_METHODS)
                   and m not in ON_REQUEST_METHODS]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    started = time.perf_counter()
    job, job_file, work_dir, data_source = make_job(args, device_kind)
    print(f"benchmark: shape {args.shape}, {job['train_rows']} train / {job['eval_rows']} eval rows, {job['steps']} "
          f"steps, device {device_kind}{' bf16' if args.bf16 else ''}; logs in {work_dir}", flush=True)

    load_before = os.getloadavg()
    prepared = spawn("prepare", job_file, work_dir, device_kind)
    if prepared["train_rows"] != job["train_rows"]:
        print(f"note: {prepared['train_rows']} train rows available (asked for {job['train_rows']})", flush=True)
    results = {}
    for method in methods:
        results[method] = spawn(method, job_file, work_dir, device_kind)
        summary = results[method]
        print(f"  {method}: {summary['train_samples_per_s']:.1f} samples/s, accuracy {summary['accuracy']:.4f}, "
              f"eval {summary['eval_samples_per_s']:.1f} samples/s ({summary['train_time_s']:.1f} s training)",
              flush=True)
    if "ours" in results and results["ours"]["train_digest"] != prepared["train_digest"]:
        raise SystemExit("our trainer saw other training rows than the prepared data: the comparison is void")
    startup = []
    if not args.no_startup:
        cache_dir = ROOT / "data" / "cache"
        for attempt in range(2):  # the first run fills the token cache if it is cold; the second is warm
            before = set(cache_dir.glob("tokens-*.npz")) if cache_dir.is_dir() else set()
            measured = spawn("startup", job_file, work_dir, device_kind)
            measured["cache"] = "cold (filled it)" if set(cache_dir.glob("tokens-*.npz")) - before else "warm"
            startup.append(measured)
            print(f"  start-up run {attempt + 1}: {measured['to_first_step_s']:.2f} s to the first step "
                  f"({measured['cache']} cache)", flush=True)
    load_after = os.getloadavg()

    command = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]) \
        if argv is None else "python bench/benchmark.py " + " ".join(map(shlex.quote, argv))
    section = render_markdown(args, job, prepared, results, startup, data_source, command, load_before, load_after,
                              time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.out.exists():
        args.out.write_text("# Benchmarks\n\nWritten by `bench/benchmark.py` (see `bench/README.md`); every figure "
                            "comes from the script. Newest section last.\n", encoding="utf-8")
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write("\n" + section)
    figures = json.dumps({"job": job, "prepared": prepared, "results": results, "startup": startup,
                          "command": command}, indent=1, default=str)
    (work_dir / "results.json").write_text(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(figures)
    print(section)
    print(f"appended to {args.out} ({time.perf_counter() - started:.0f} s in all)")
    return 0


def make_job(args: argparse.Namespace, device_kind: str) -> tuple[dict, Path, Path, str]:
    """The model, rows and recipe every worker of one invocation shares, written to <work_dir>/job.json."""
    threads = resolve_threads(args.threads)
    default_train, default_eval = DEFAULT_ROWS[(args.shape, device_kind)]
    train_rows, eval_rows = args.train_rows or default_train, args.eval_rows or default_eval

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work_dir = OUT_DIR / f"{stamp}-{args.shape}"
    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir, data_source = find_data(args.data_dir, train_rows, eval_rows)
    vocab = args.vocab.resolve() if args.vocab else None
    vocab_tag = vocab.stem if vocab else "samples"
    steps_per_epoch = math.ceil(train_rows / BATCH_SIZE)
    steps = args.steps or steps_per_epoch * (args.epochs or 1)
    job = {
        "shape": args.shape, "seed": args.seed, "device": device_kind, "bf16": args.bf16,
        "learning_rate": args.learning_rate or LEARNING_RATES[args.shape],
        "model_dir": str(OUT_DIR / "models" / f"{args.shape}-{vocab_tag}-seed{args.seed}"),
        "vocab": str(vocab) if vocab else None,
        "data_dir": str(data_dir), "train_rows": train_rows, "eval_rows": eval_rows,
        "train_file_rows": count_rows((data_dir / "ratings_train.txt").read_bytes(), json_array=False),
        "eval_file_rows": count_rows((data_dir / "ratings_test.txt").read_bytes(), json_array=False),
        "steps": steps, "epochs": math.ceil(steps / steps_per_epoch),
        "warmup": round(WARMUP_RATIO * steps),  # what our trainer computes from train.warmup_ratio
        "work_dir": str(work_dir), "data_npz": str(work_dir / "data.npz"), "threads": threads,
    }
    job_file = work_dir / "job.json"
    job_file.write_text(json.dumps(job, indent=1))
    return job, job_file, work_dir, data_source


def resolve_threads(requested: str) -> int | None:
    """None leaves torch's default. On a CPU shared with other work, a process's OpenMP threads wait for each
    other at every operation and small matrix products get several times slower (bench/README.md), so 'auto'
    uses one thread when the 1-minute load average is 0.5 or more."""
    if requested == "default":
        return None
    if requested == "auto":
        return 1 if os.getloadavg()[0] >= 0.5 else None
    return int(requested)


def resolve_device_kind(requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        import torch
        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def find_data(requested: Path | None, train_rows: int, eval_rows: int) -> tuple[Path, str]:
    """The NSMC files in --data-dir; without it, the bundled samples repeated up to the rows asked for."""
    if requested is not None:
        return requested.resolve(), f"NSMC files in `{requested}`"
    samples = ROOT / "data" / "samples" / "nsmc"
    target = OUT_DIR / "data" / f"nsmc-samples-{train_rows}-{eval_rows}"
    target.mkdir(parents=True, exist_ok=True)
    for name, rows in (("ratings_train.txt", train_rows), ("ratings_test.txt", eval_rows)):
        header, *lines = (samples / name).read_text(encoding="utf-8").splitlines()
        repeated = (lines * math.ceil(rows / len(lines)))[:rows]
        (target / name).write_text("\n".join([header, *repeated]) + "\n", encoding="utf-8")
    return target, "the bundled samples (`data/samples/nsmc`) repeated: NOT real data, accuracy is meaningless"


def spawn(worker: str, job_file: Path, work_dir: Path, device_kind: str, timeout_s: int = 1800,
          threads: int | None | str = "job", name: str | None = None) -> dict:
    """Run one worker in a fresh interpreter; its output goes to <work_dir>/<name or worker>.log. `threads`:
    the job's setting, a number (OMP_NUM_THREADS), or None (unset: torch's choice, or our trainer's auto)."""
    if threads == "job":
        threads = json.loads(job_file.read_text()).get("threads")
    result_file = work_dir / f"{name or worker}.json"
    result_file.unlink(missing_ok=True)
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(key, None)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if device_kind == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # our trainer picks its device through Accelerate: hide the GPU
    log_name = name or (worker if worker != "startup" else f"startup-{len(list(work_dir.glob('startup*.log'))) + 1}")
    with open(work_dir / f"{log_name}.log", "w") as log:
        completed = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", worker,
                                    "--job", str(job_file), "--result", str(result_file)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s)
    if completed.returncode != 0 or not result_file.is_file():
        tail = (work_dir / f"{log_name}.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"worker {worker} failed (exit {completed.returncode}):\n{tail}")
    return json.loads(result_file.read_text())


if __name__ == "__main__":
    sys.exit(main())
