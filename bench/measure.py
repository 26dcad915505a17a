"""How the benchmark's workers measure: peak memory, CPU seconds, device syncs, the batches each method really
trained on, the prepared rows, and the result records. See bench/README.md."""

from __future__ import annotations

import os
import resource
import threading
import time
from pathlib import Path



def rss_bytes() -> int:
    try:
        import psutil
        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class MemoryWatch:
    """Peak memory of one phase. CPU: resident set size sampled every 10 ms by a thread (ru_maxrss alone is a
    whole-process maximum, so it would also hold whatever data loading peaked at). CUDA: max_memory_allocated."""

    def __init__(self, device):
        self.cuda = getattr(device, "type", str(device)) == "cuda"
        self.start = self.peak = 0
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = self.peak = torch.cuda.memory_allocated()
        else:
            self.start = self.peak = rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        if self.cuda:
            import torch
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, rss_bytes())
        return False


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def synchronize(device) -> None:
    if getattr(device, "type", str(device)) == "cuda":
        import torch
        torch.cuda.synchronize()


class BatchLog:
    """Wraps a collate function and records (rows, padded tokens, real tokens) of every batch it builds.
    Counting happens on the host tensors the collator returns, before any device transfer: no device sync."""

    def __init__(self, collate, records: list):
        self.collate = collate
        self.records = records

    def __call__(self, rows):
        batch = self.collate(rows)
        mask = batch["attention_mask"]
        self.records.append((int(mask.shape[0]), int(mask.numel()), int(mask.sum())))
        return batch


def batch_stats(records: list) -> dict:
    rows = sum(r[0] for r in records)
    total = sum(r[1] for r in records)
    real = sum(r[2] for r in records)
    return {"batches": len(records), "rows": rows, "tokens": total, "real_tokens": real,
            "padding": 1 - real / total if total else 0.0}


def load_prepared(path: Path):
    """The rows every method trains and evaluates on (written by the `prepare` worker)."""
    import numpy as np
    with np.load(path) as stored:
        data = {key: stored[key] for key in stored.files}

    def split(prefix):
        flat, offsets = data[f"{prefix}_flat"], data[f"{prefix}_offsets"]
        ids = [flat[offsets[i]: offsets[i + 1]] for i in range(len(offsets) - 1)]
        return ids, data[f"{prefix}_labels"]

    return split("train"), split("eval"), int(data["pad_token_id"])


def pick_device(name: str):
    import torch
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def accuracy(logits, labels) -> float:
    import numpy as np
    return float((np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())


def mean_loss(losses: list) -> float | None:
    """Mean training loss over the last LOG_EVERY steps (read once, after training: no sync in the loop)."""
    if not losses:
        return None
    import torch
    return float(torch.stack([loss.float() for loss in losses]).mean())


def describe_optimizer(optimizer) -> str:
    inner = getattr(optimizer, "optimizer", optimizer)
    group = inner.param_groups[0]
    if group.get("fused"):
        kind = "fused"
    elif group.get("foreach"):
        kind = "foreach"
    else:  # None: torch picks foreach only when every tensor is on a GPU, else the per-tensor loop
        kind = "per-tensor loop" if all(p.device.type == "cpu" for g in inner.param_groups for p in g["params"]) \
            else "default (foreach on GPU)"
    return f"{type(inner).__name__}, {kind}"


def train_result(seconds: float, cpu: float, steps: int, records: list, memory: MemoryWatch, loss) -> dict:
    stats = batch_stats(records)
    return {
        "train_time_s": seconds, "train_cpu_s": cpu, "steps": steps, "train": stats,
        "train_samples_per_s": stats["rows"] / seconds,
        "train_real_tokens_per_s": stats["real_tokens"] / seconds,
        "train_padded_tokens_per_s": stats["tokens"] / seconds,
        "memory_start_bytes": memory.start, "memory_peak_bytes": memory.peak,
        "final_train_loss": loss,
    }


def time_evaluation(predict, records: list, device, passes: int = 2) -> dict:
    """Best of `passes` timed calls of predict() over the whole evaluation split."""
    best, logits, stats = None, None, None
    for _ in range(passes):
        records.clear()
        synchronize(device)
        start = time.perf_counter()
        logits = predict()
        synchronize(device)
        elapsed = time.perf_counter() - start
        if best is None or elapsed < best:
            best, stats = elapsed, batch_stats(records)
    return {"eval_time_s": best, "eval_samples_per_s": len(logits) / best, "eval": stats, "logits": logits}
