"""The int8 candidates for `predict.py --quantize int8`, measured side by side in one process, one thread each,
on the same length-sorted batches of NSMC test reviews: PyTorch fp32, PyTorch dynamic int8 on nn.Linear
(torch.ao.quantization.quantize_dynamic), ONNX Runtime fp32 and ONNX Runtime dynamic int8 (quantize_dynamic,
QInt8 weights, all graph optimisations), alternating within each round; torchao's
Int8DynamicActivationInt8WeightConfig on a few batches when torchao is installed (`--torchao`).

    python bench/int8_candidates.py --model bench/out/models/base-classifier --data-dir ../shared/data/nsmc \\
        --rows 300 --rounds 2

Prints seconds per method and round, rows/s, agreement of the argmax with PyTorch fp32 and the load average.
Not part of the test suite; docs/history/benchmarks-log.md has what it printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ is not a package
from predict_speed import read_test_file  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--torchao", action="store_true", help="also torchao, on --torchao-batches batches")
    parser.add_argument("--torchao-batches", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from koelectra_cookbook.inference.int8.export import export_onnx

    texts = [text for text, _ in read_test_file(args.data_dir / "ratings_test.txt")[:args.rows]]
    batches = sorted_batches(AutoTokenizer.from_pretrained(args.model), texts)
    model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    work = Path(tempfile.mkdtemp(prefix="int8-candidates-"))
    started = time.perf_counter()
    export_onnx(model, work / "model.onnx")
    print(f"export {time.perf_counter() - started:.1f} s", flush=True)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    started = time.perf_counter()
    quantize_dynamic(work / "model.onnx", work / "model.int8.onnx", weight_type=QuantType.QInt8)
    print(f"quantize {time.perf_counter() - started:.1f} s", flush=True)
    linear_int8 = torch.ao.quantization.quantize_dynamic(
        AutoModelForSequenceClassification.from_pretrained(args.model).eval(), {torch.nn.Linear}, dtype=torch.qint8)
    methods = {"torch fp32": torch_runner(model, batches), "torch.ao dynamic int8": torch_runner(linear_int8, batches),
               "onnxruntime fp32": onnx_runner(work / "model.onnx", batches),
               "onnxruntime int8": onnx_runner(work / "model.int8.onnx", batches)}
    if args.torchao:
        compare_torchao(args, model, linear_int8, batches)
    times = {name: [] for name in methods}
    logits = {}
    print("load", load_average(), flush=True)
    for round_ in range(args.rounds):
        for name, run in methods.items():
            started = time.perf_counter()
            logits[name] = run()
            times[name].append(time.perf_counter() - started)
            print(f"round {round_} {name}: {times[name][-1]:.2f} s (load {load_average()})", flush=True)
    reference = logits["torch fp32"].argmax(1)
    for name in methods:
        print(f"{name:24s} best {min(times[name]):7.2f} s  {len(texts) / min(times[name]):7.1f} rows/s  argmax agrees "
              f"with torch fp32 on {(logits[name].argmax(1) == reference).mean():.4f}")
    print("load", load_average())
    return 0


def sorted_batches(tokenizer, texts: list[str], size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
    """(input_ids, attention_mask) batches of rows sorted by length, padded to each batch's longest, as
    predict.py builds them."""
    token_ids = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    order = np.argsort([len(ids) for ids in token_ids], kind="stable")
    batches = []
    for start in range(0, len(order), size):
        rows = [token_ids[i] for i in order[start:start + size]]
        input_ids = np.full((len(rows), max(map(len, rows))), tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for i, ids in enumerate(rows):
            input_ids[i, :len(ids)], mask[i, :len(ids)] = ids, 1
        batches.append((input_ids, mask))
    return batches


def torch_runner(model, batches):
    @torch.inference_mode()
    def run():
        return np.concatenate([model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
                               .logits.numpy() for ids, mask in batches])
    return run


def onnx_runner(path: Path, batches):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda: np.concatenate([session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
                                   for ids, mask in batches])


def compare_torchao(args, model, linear_int8, batches) -> None:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    from transformers import AutoModelForSequenceClassification

    torchao_model = AutoModelForSequenceClassification.from_pretrained(args.model).eval()
    quantize_(torchao_model, Int8DynamicActivationInt8WeightConfig())
    few = batches[:args.torchao_batches]
    for name, candidate in [("torchao int8", torchao_model), ("torch.ao dynamic int8", linear_int8),
                            ("torch fp32", model)]:
        started = time.perf_counter()
        torch_runner(candidate, few)()
        print(f"{len(few)} batch(es) {name}: {time.perf_counter() - started:.2f} s (load {load_average()})",
              flush=True)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


if __name__ == "__main__":
    sys.exit(main())
