"""How predict.py --quantize int8 spends the machine's cores, measured side by side in one process on the same
length-sorted NSMC test batches: the int8 model as first built (ONNX Runtime splitting each operator across all
cores), the same model with batches run side by side on one core each (what Int8Classifier does), and the model
with ONNX Runtime's transformer fusions made before quantising, side by side (what quantize.py builds). Also
--batch-sizes, for the side-by-side fused model.

    python bench/int8_levers.py --model bench/out/models/base-classifier --data-dir ../shared/data/nsmc \\
        --rows 2000 --rounds 2

Prints seconds per lever and round, the largest logit difference from the first lever, and the load average.
Not part of the test suite; docs/history/benchmarks-log.md has what it printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from int8_candidates import load_average, sorted_batches  # noqa: E402
from predict_speed import read_test_file  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-sizes", default="64", help="comma-separated, for the fused side-by-side lever")
    parser.add_argument("--profile", action="store_true", help="also: ONNX Runtime's profile of the fused int8 "
                                                                "model on one thread, time per operator type")
    args = parser.parse_args()
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from koelectra_cookbook.inference.int8.export import export_onnx, fuse_transformer_operators, quiet_logging

    cores = len(os.sched_getaffinity(0))
    texts = [text for text, _ in read_test_file(args.data_dir / "ratings_test.txt")[:args.rows]]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    work = Path(tempfile.mkdtemp(prefix="int8-levers-"))
    export_onnx(model, work / "model.float.onnx")
    fused_file = fuse_transformer_operators(model, work / "model.float.onnx")
    assert fused_file != work / "model.float.onnx", "the fusions did not fit this model"
    plain, fused = work / "plain.int8.onnx", work / "fused.int8.onnx"
    with quiet_logging():
        quantize_dynamic(work / "model.float.onnx", plain, weight_type=QuantType.QInt8)
        quantize_dynamic(fused_file, fused, weight_type=QuantType.QInt8)

    def session(path: Path, threads: int):
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def split_operators(path: Path, size: int):
        run, batches = session(path, cores).run, sorted_batches(tokenizer, texts, size)
        return lambda: np.concatenate([run(None, {"input_ids": i, "attention_mask": m})[0] for i, m in batches])

    def side_by_side(path: Path, size: int):
        run, batches = session(path, 1).run, sorted_batches(tokenizer, texts, size)

        def logits():
            with ThreadPoolExecutor(cores) as pool:
                return np.concatenate(list(pool.map(lambda b: run(None, {"input_ids": b[0],
                                                                         "attention_mask": b[1]})[0], batches)))
        return logits

    levers = {f"plain int8, operators split over {cores} cores, batch 64": split_operators(plain, 64),
              f"plain int8, batches side by side on {cores} cores, batch 64": side_by_side(plain, 64)}
    for size in [int(size) for size in args.batch_sizes.split(",")]:
        levers[f"fused int8, batches side by side on {cores} cores, batch {size}"] = side_by_side(fused, size)
    times = {name: [] for name in levers}
    reference = None
    print("load", load_average(), flush=True)
    for round_ in range(args.rounds):
        for name, run in levers.items():
            started = time.perf_counter()
            logits = run()
            times[name].append(time.perf_counter() - started)
            reference = logits if reference is None else reference
            print(f"round {round_} {name}: {times[name][-1]:.2f} s, largest logit difference from the first "
                  f"{np.abs(logits - reference).max():.4f} (load {load_average()})", flush=True)
    for name in levers:
        print(f"{name:60s} best {min(times[name]):7.2f} s  {len(texts) / min(times[name]):6.1f} rows/s")
    if args.profile:
        print_profile(fused, work, sorted_batches(tokenizer, texts, 16))
    return 0


def print_profile(fused: Path, work: Path, batches) -> None:
    """Share of the kernel time per operator type, from ONNX Runtime's own profiler, one thread."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.enable_profiling, options.profile_file_prefix = True, str(work / "profile")
    profiled = onnxruntime.InferenceSession(str(fused), options, providers=["CPUExecutionProvider"])
    for input_ids, mask in batches:
        profiled.run(None, {"input_ids": input_ids, "attention_mask": mask})
    events = json.loads(Path(profiled.end_profiling()).read_text())
    per_operator = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_operator[event["args"]["op_name"]] += event["dur"]
    total = sum(per_operator.values())
    for operator, microseconds in per_operator.most_common(8):
        print(f"profile, fused int8, one thread: {operator:24s} {microseconds / 1e6:7.2f} s "
              f"{100 * microseconds / total:5.1f}%")


if __name__ == "__main__":
    sys.exit(main())
