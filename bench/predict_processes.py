"""predict.py in one single-threaded CPU process against two of them under torchrun (gloo), whole process,
alternating, on NSMC test reviews; checks that both write the same file.

    python bench/predict_processes.py --model RUN_DIR/model --data-dir ../shared/data/nsmc --rows 20000

Run it on an otherwise idle machine: with other work running, two processes take a larger share of the CPU than
one does, which flatters the ratio (the load average before and after each run is in the section).
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from common import OUT_DIR, ROOT  # noqa: E402
from predict_speed import loads, read_test_file, seconds, time_process  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a saved model folder")
    parser.add_argument("--data-dir", type=Path, required=True, help="NSMC folder (ratings_test.txt)")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "history" / "benchmarks-log.md")
    args = parser.parse_args(argv)

    work = OUT_DIR / f"processes-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    work.mkdir(parents=True)
    texts = work / "reviews.txt"
    texts.write_text("".join(text + "\n" for text, _ in read_test_file(args.data_dir / "ratings_test.txt")[:args.rows]),
                     encoding="utf-8")
    os.environ.update(OMP_NUM_THREADS="1", ACCELERATE_USE_CPU="true")
    script = [str(ROOT / "predict.py"), "--model", str(args.model), "--input", str(texts)]
    launchers = {"1 process": [sys.executable],
                 "2 processes (torchrun)": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]}
    runs = {name: [] for name in launchers}
    for repeat in range(args.repeats):
        for name, launcher in launchers.items():
            output = work / f"{name.split()[0]}-{repeat}.csv"
            record = time_process([*launcher, *script, "--output", str(output)], work / "no-cache")
            runs[name].append(record)
            print(f"{name}: {record['seconds']:.1f} s (load {record['load_before']} -> {record['load_after']})",
                  flush=True)
    identical = all((work / f"2-{r}.csv").read_bytes() == (work / "1-0.csv").read_bytes()
                    for r in range(args.repeats))
    best = {name: min(r["seconds"] for r in records) for name, records in runs.items()}
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [f"\n## prediction over processes, cpu: {now:%Y-%m-%d %H:%M} UTC\n",
             f"{os.cpu_count()} CPU cores, OMP_NUM_THREADS=1 in every process, {args.rows} NSMC test reviews, "
             f"model {args.model}, whole process, best of {args.repeats}, alternating. Output files identical: "
             f"{identical}.\n",
             f"Command: `python bench/predict_processes.py --model {args.model} --data-dir {args.data_dir} --rows "
             f"{args.rows} --repeats {args.repeats}`\n",
             "| launch | seconds (each run) | speed-up | load average before -> after |", "|---|---|---:|---|"]
    for name, records in runs.items():
        lines.append(f"| {name} | {seconds(records)} | "
                     f"{best['1 process'] / best[name]:.2f}x | "
                     f"{loads(records)} |")
    section = "\n".join(lines) + "\n"
    with open(args.out, "a", encoding="utf-8") as handle:
        handle.write(section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
