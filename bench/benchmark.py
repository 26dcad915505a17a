"""Training and evaluation throughput, side by side: our ExpertTrainer, a static-padding PyTorch loop, and the
Hugging Face Trainer (random batches, and group_by_length), on the same rows, model shape and recipe.

    python bench/benchmark.py --shape tiny                 # 6-8 minutes on 2 CPU cores; appends to docs/benchmarks.md
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
import platform
import resource
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
SHARED = ROOT.parent / "shared"
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
}
GPU_ONLY_METHODS = {"hf_grouped_no_cudnn_attention"}  # identical to hf_grouped on a CPU
BATCH_SIZE = 32
EVAL_BATCH_SIZE = 64  # our trainer's default (twice the training batch); used by every method
# Peak learning rate per shape: 5e-4 trains the 2-layer model from scratch; the 12-layer base shape stayed at
# chance with it (50% after one epoch on an H100, docs/benchmarks.md), so it gets BERT's pre-training rate.
LEARNING_RATES = {"tiny": 5e-4, "small": 5e-4, "base": 1e-4}
WEIGHT_DECAY = 0.01
WARMUP_RATIO = 0.1
MAX_GRAD_NORM = 1.0
MAX_SEQ_LEN = 128
LOG_EVERY = 50


# ==================================================================================================
# helpers shared by the orchestrator and the workers
# ==================================================================================================

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


def linear_warmup_decay(warmup: int, total: int):
    """Learning-rate factor: 0 -> 1 over `warmup` steps, then 1 -> 0 at step `total`."""
    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return factor


# ==================================================================================================
# workers: each runs in its own process and writes one JSON file
# ==================================================================================================

def our_argv(job: dict, full_data: bool = False) -> list[str]:
    """The arguments our scripts would be given for this benchmark (`--task nsmc --set ...`)."""
    sets = {
        "model.name_or_path": job["model_dir"],
        "model.max_seq_len": MAX_SEQ_LEN,
        "data.dir": job["data_dir"],
        "data.download": "false",
        "train.epochs": job["epochs"],
        "train.max_steps": job["steps"],
        "train.batch_size": BATCH_SIZE,
        "train.eval_batch_size": EVAL_BATCH_SIZE,
        "train.learning_rate": job["learning_rate"],
        "train.weight_decay": WEIGHT_DECAY,
        "train.lr_schedule": "linear",
        "train.warmup_ratio": WARMUP_RATIO,
        "train.max_grad_norm": MAX_GRAD_NORM,
        "train.gradient_accumulation_steps": 1,
        "train.mixed_precision": "bf16" if job["bf16"] else "no",
        "train.seed": job["seed"],
        "train.log_every": LOG_EVERY,
    }
    if not full_data:
        sets.update({
            "data.dev_split": 0,  # every method trains on the same train_rows rows; no dev evaluation in the loop
            "data.max_train_samples": job["train_rows"] if job["train_rows"] < job["train_file_rows"] else "null",
            "data.max_eval_samples": job["eval_rows"] if job["eval_rows"] < job["eval_file_rows"] else "null",
            "train.evaluate_during_training": "false",
        })
    argv = ["--task", "nsmc", "--output-dir", str(Path(job["work_dir"]) / "runs")]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    return argv


def worker_prepare(job: dict) -> dict:
    """Build (or reuse) the model checkpoint, then choose and tokenize the rows exactly as our trainer does,
    and store them for the other methods. This also fills our token cache for the rows."""
    import hashlib
    import numpy as np
    from koelectra_cookbook.cli import parse_args, resolve_config
    from koelectra_cookbook.data.dataset import load_task_data
    from koelectra_cookbook.model import load_tokenizer

    model_dir = Path(job["model_dir"])
    if not (model_dir / "config.json").is_file():
        build_model(model_dir, job["shape"], job["vocab"], job["seed"])
    config = resolve_config(parse_args("benchmark", our_argv(job), True))
    tokenizer = load_tokenizer(str(model_dir))
    data = load_task_data(config, tokenizer)
    arrays = {"pad_token_id": np.array(tokenizer.pad_token_id)}
    for prefix, split in (("train", data.train), ("eval", data.eval)):
        lengths = split.lengths()
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        arrays[f"{prefix}_flat"] = np.concatenate(split.token_ids).astype(np.int32)
        arrays[f"{prefix}_offsets"] = offsets
        arrays[f"{prefix}_labels"] = np.asarray(split.labels, dtype=np.int64)
    np.savez(job["data_npz"], **arrays)
    import torch
    from transformers import AutoConfig
    model_config = AutoConfig.from_pretrained(model_dir)
    with torch.device("meta"):
        from transformers import AutoModelForSequenceClassification
        parameters = sum(p.numel() for p in AutoModelForSequenceClassification.from_config(model_config).parameters())
    train_lengths, eval_lengths = data.train.lengths(), data.eval.lengths()
    return {
        "train_rows": len(data.train), "eval_rows": len(data.eval), "notes": data.notes,
        "train_digest": hashlib.sha256(arrays["train_flat"].tobytes()).hexdigest()[:16],
        "train_mean_len": float(train_lengths.mean()), "train_p99_len": float(np.percentile(train_lengths, 99)),
        "eval_mean_len": float(eval_lengths.mean()), "truncated": int((train_lengths >= MAX_SEQ_LEN).sum()),
        "parameters": int(parameters), "vocab_size": int(model_config.vocab_size),
        "label_balance": float(np.mean(arrays["train_labels"])),
    }


def build_model(out_dir: Path, shape: str, vocab: str | None, seed: int) -> None:
    """A randomly initialised ELECTRA discriminator checkpoint (with its tokenizer) of the given shape."""
    import shutil
    import tempfile
    from koelectra_cookbook.tiny_model import build_tiny_electra, train_vocab
    from koelectra_cookbook.paths import SAMPLES_DIR

    dims = SHAPES[shape]
    vocab_source = Path(vocab) if vocab else train_vocab(sorted(p for p in SAMPLES_DIR.rglob("*") if p.is_file()))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-"))
    if dims["embedding"] == dims["hidden"] and dims["intermediate"] == 4 * dims["hidden"]:
        build_tiny_electra(building, vocab_source, hidden_size=dims["hidden"], num_layers=dims["layers"],
                           num_heads=dims["heads"], seed=seed)
    else:
        # build_tiny_electra ties embedding and intermediate sizes to the hidden size; KoELECTRA-small does not.
        import torch
        from transformers import AutoTokenizer, ElectraConfig, ElectraForPreTraining
        build_tiny_electra(building, vocab_source, hidden_size=64, num_layers=1, num_heads=1, seed=seed)
        tokenizer = AutoTokenizer.from_pretrained(building)
        config = ElectraConfig(vocab_size=len(tokenizer), embedding_size=dims["embedding"],
                               hidden_size=dims["hidden"], num_hidden_layers=dims["layers"],
                               num_attention_heads=dims["heads"], intermediate_size=dims["intermediate"],
                               max_position_embeddings=512)
        torch.manual_seed(seed)
        ElectraForPreTraining(config).save_pretrained(building)  # replaces the placeholder weights and config
    try:
        building.rename(out_dir)
    except OSError:  # built meanwhile by someone else
        shutil.rmtree(building, ignore_errors=True)


def worker_ours(job: dict) -> dict:
    """Our ExpertTrainer, constructed in-process exactly as train_expert.py does, trained with fit()."""
    import hashlib
    import numpy as np
    from koelectra_cookbook.cli import parse_args, resolve_config
    from koelectra_cookbook.trainers.expert import ExpertTrainer

    records: list = []
    last_losses: list = []

    class Measured(ExpertTrainer):
        """Adds timing and batch counting; the training itself is untouched."""

        def make_loader(self, split, batch_sampler):
            loader = super().make_loader(split, batch_sampler)
            loader.collate_fn = BatchLog(loader.collate_fn, records)
            return loader

        def on_fit_start(self):
            super().on_fit_start()
            synchronize(self.accelerator.device)
            records.clear()
            self.bench_t0, self.bench_cpu0 = time.perf_counter(), cpu_seconds()

        def training_step(self, batch):
            loss = super().training_step(batch)
            if self.global_step >= job["steps"] - LOG_EVERY:
                last_losses.append(loss.detach())
            return loss

        def on_fit_end(self):
            synchronize(self.accelerator.device)
            self.bench_t1, self.bench_cpu1 = time.perf_counter(), cpu_seconds()
            super().on_fit_end()

    config = resolve_config(parse_args("benchmark", our_argv(job), True))
    trainer = Measured(config, output_dir=Path(job["work_dir"]) / "runs")
    trainer.setup()
    device = trainer.accelerator.device
    digest = hashlib.sha256(np.concatenate(trainer.data.train.token_ids).astype(np.int32).tobytes()).hexdigest()[:16]
    with MemoryWatch(device) as memory:
        trainer.fit()
    train_batches = records[: trainer.global_step]  # the loader may have collated one batch past the last step
    evaluation = time_evaluation(lambda: trainer.predict_logits(trainer.data.eval), records, device)
    return {
        **train_result(trainer.bench_t1 - trainer.bench_t0, trainer.bench_cpu1 - trainer.bench_cpu0,
                       trainer.global_step, train_batches, memory, mean_loss(last_losses)),
        **evaluation,
        "accuracy": accuracy(evaluation.pop("logits"), trainer.data.eval.labels),
        "device": str(device), "train_digest": digest,
        "own_report": {"train_samples_per_s": round(trainer.train_samples / trainer.train_runtime_s, 2)},
        "optimizer": describe_optimizer(trainer.optimizer),
    }


def worker_static(job: dict) -> dict:
    """The seed cookbook's method: every row padded to max_seq_len once, random batches, a plain loop."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import AutoModelForSequenceClassification, set_seed

    device = pick_device(job["device"])
    (train_ids, train_labels), (eval_ids, eval_labels), pad_id = load_prepared(Path(job["data_npz"]))

    def padded(rows):
        ids = np.full((len(rows), MAX_SEQ_LEN), pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), MAX_SEQ_LEN), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return torch.from_numpy(ids), torch.from_numpy(mask)

    set_seed(job["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(job["model_dir"], num_labels=2,
                                                               attn_implementation="sdpa").to(device)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=job["learning_rate"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(job["warmup"], job["steps"]))
    loader = DataLoader(TensorDataset(*padded(train_ids), torch.from_numpy(train_labels)), batch_size=BATCH_SIZE,
                        shuffle=True, generator=torch.Generator().manual_seed(job["seed"]))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=job["bf16"])
    records, step, last_losses = [], 0, []
    model.train()
    with MemoryWatch(device) as memory:
        synchronize(device)
        t0, cpu0 = time.perf_counter(), cpu_seconds()
        while step < job["steps"]:
            for input_ids, attention_mask, labels in loader:
                records.append((len(labels), attention_mask.numel(), int(attention_mask.sum())))
                input_ids, attention_mask, labels = (t.to(device, non_blocking=True)
                                                     for t in (input_ids, attention_mask, labels))
                with autocast:
                    loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if step > job["steps"] - LOG_EVERY:
                    last_losses.append(loss.detach())
                if step >= job["steps"]:
                    break
        synchronize(device)
        t1, cpu1 = time.perf_counter(), cpu_seconds()

    eval_inputs = padded(eval_ids)
    eval_records: list = []

    @torch.inference_mode()
    def predict():
        model.eval()
        chunks = []
        for start in range(0, len(eval_ids), EVAL_BATCH_SIZE):
            ids, mask = (t[start: start + EVAL_BATCH_SIZE] for t in eval_inputs)
            eval_records.append((len(ids), mask.numel(), int(mask.sum())))
            with autocast:
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            chunks.append(logits.float().cpu())
        model.train()
        return torch.cat(chunks).numpy()

    evaluation = time_evaluation(predict, eval_records, device)
    return {
        **train_result(t1 - t0, cpu1 - cpu0, step, records, memory, mean_loss(last_losses)),
        **evaluation,
        "accuracy": accuracy(evaluation.pop("logits"), eval_labels),
        "device": str(device), "optimizer": describe_optimizer(optimizer),
    }


def worker_hf(job: dict, strategy: str, cudnn_attention: bool = True) -> dict:
    """transformers' Trainer as its documentation sets it up: DataCollatorWithPadding (pad to the longest row
    of each batch), train_sampling_strategy "random" or "group_by_length", trainer.predict for evaluation.
    cudnn_attention=False makes the one switch our trainer makes on a GPU (avoid_per_shape_attention_plans in
    model.py), to show how much of our lead is that switch."""
    import torch
    if not cudnn_attention:
        torch.backends.cuda.enable_cudnn_sdp(False)
    import transformers
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainerCallback, TrainingArguments, set_seed)

    transformers.logging.set_verbosity_error()
    device = pick_device(job["device"])
    (train_ids, train_labels), (eval_ids, eval_labels), _ = load_prepared(Path(job["data_npz"]))

    class Rows(torch.utils.data.Dataset):
        """Rows as a `datasets` map would leave them: {"input_ids": list of ints, "labels": int}."""

        def __init__(self, ids, labels):
            self.rows = [{"input_ids": row.tolist(), "labels": int(label)} for row, label in zip(ids, labels)]

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, index):
            return dict(self.rows[index])

    class Clock(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            synchronize(device)
            records.clear()
            self.t0, self.cpu0 = time.perf_counter(), cpu_seconds()

        def on_train_end(self, args, state, control, **kwargs):
            synchronize(device)
            self.t1, self.cpu1 = time.perf_counter(), cpu_seconds()

    class LossKeeping(Trainer):
        def training_step(self, model, inputs, num_items_in_batch=None):
            loss = super().training_step(model, inputs, num_items_in_batch)
            if self.state.global_step >= job["steps"] - LOG_EVERY:
                last_losses.append(loss.detach())
            return loss

    records: list = []
    last_losses: list = []
    tokenizer = AutoTokenizer.from_pretrained(job["model_dir"])
    set_seed(job["seed"])
    model = AutoModelForSequenceClassification.from_pretrained(job["model_dir"], num_labels=2,
                                                               attn_implementation="sdpa")
    arguments = TrainingArguments(
        output_dir=str(Path(job["work_dir"]) / f"hf-{strategy}"),
        max_steps=job["steps"], per_device_train_batch_size=BATCH_SIZE, per_device_eval_batch_size=EVAL_BATCH_SIZE,
        learning_rate=job["learning_rate"], weight_decay=WEIGHT_DECAY, lr_scheduler_type="linear",
        warmup_steps=job["warmup"], max_grad_norm=MAX_GRAD_NORM, train_sampling_strategy=strategy,
        logging_steps=LOG_EVERY, save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
        seed=job["seed"], data_seed=job["seed"], bf16=job["bf16"], use_cpu=device.type == "cpu",
        dataloader_num_workers=0, dataloader_pin_memory=device.type == "cuda",
    )
    clock = Clock()
    trainer = LossKeeping(model=model, args=arguments, train_dataset=Rows(train_ids, train_labels),
                      data_collator=BatchLog(DataCollatorWithPadding(tokenizer), records),
                      processing_class=tokenizer, callbacks=[clock])
    with MemoryWatch(device) as memory:
        output = trainer.train()
    train_batches = records[: trainer.state.global_step]
    eval_rows = Rows(eval_ids, eval_labels)
    label_order: list = []

    def predict():
        prediction = trainer.predict(eval_rows)
        label_order[:] = [prediction.label_ids]  # group_by_length also reorders prediction rows
        return prediction.predictions

    evaluation = time_evaluation(predict, records, device)
    return {
        **train_result(clock.t1 - clock.t0, clock.cpu1 - clock.cpu0, trainer.state.global_step, train_batches,
                       memory, mean_loss(last_losses)),
        **evaluation,
        "accuracy": accuracy(evaluation.pop("logits"), label_order[0]),
        "device": str(trainer.args.device),
        "own_report": {"train_samples_per_s": output.metrics.get("train_samples_per_second")},
        "optimizer": f"{getattr(arguments.optim, 'value', arguments.optim)}: {describe_optimizer(trainer.optimizer)}",
    }


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


class _FirstStep(Exception):
    pass


def worker_startup(job: dict) -> dict:
    """Seconds from just after the imports to our trainer's first training step, on the whole NSMC train file
    (and the whole evaluation file), with a breakdown of where they go."""
    import psutil
    from koelectra_cookbook.cli import parse_args, resolve_config
    from koelectra_cookbook.data import dataset as dataset_module
    from koelectra_cookbook.trainers import beginner as beginner_module
    from koelectra_cookbook.trainers.expert import ExpertTrainer

    after_imports = time.perf_counter()
    since_process_start = time.time() - psutil.Process().create_time()
    spent: dict[str, float] = {}

    def timed(module, name, label):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - start
        setattr(module, name, wrapper)

    timed(beginner_module, "load_tokenizer", "tokenizer load")
    timed(beginner_module, "load_task_data", "data (read + encode)")
    timed(beginner_module, "load_model", "model load")
    timed(dataset_module, "_read_labelled", "read and validate files")
    timed(dataset_module, "encode_texts", "token ids (cache key + cache read, or tokenize)")
    timed(dataset_module, "_load_cache", "token cache read")

    class FirstStep(ExpertTrainer):
        def training_step(self, batch):
            raise _FirstStep(time.perf_counter())

    config = resolve_config(parse_args("benchmark", our_argv(job, full_data=True), True))
    trainer = FirstStep(config, output_dir=Path(job["work_dir"]) / "runs")
    trainer.setup()
    constructed = time.perf_counter()
    try:
        trainer.fit()
        raise RuntimeError("training finished without a training step")
    except _FirstStep as first:
        first_step = first.args[0]
    return {
        "to_first_step_s": first_step - after_imports, "constructor_s": constructed - after_imports,
        "imports_s": since_process_start, "breakdown_s": spent,
        "train_rows": len(trainer.data.train), "dev_rows": len(trainer.data.dev) if trainer.data.dev else 0,
        "eval_rows": len(trainer.data.eval),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


WORKERS = {
    "prepare": worker_prepare,
    "ours": worker_ours,
    "static": worker_static,
    "hf_random": lambda job: worker_hf(job, "random"),
    "hf_grouped": lambda job: worker_hf(job, "group_by_length"),
    "hf_grouped_no_cudnn_attention": lambda job: worker_hf(job, "group_by_length", cudnn_attention=False),
    "startup": worker_startup,
}


def run_worker(name: str, job_file: Path, result_file: Path) -> None:
    job = json.loads(job_file.read_text())
    result = WORKERS[name](job)
    import torch
    result["torch_threads"] = torch.get_num_threads()
    result["cudnn_attention"] = torch.backends.cuda.cudnn_sdp_enabled() if torch.cuda.is_available() else None
    result_file.write_text(json.dumps(result, indent=1, default=str))


# ==================================================================================================
# the orchestrator
# ==================================================================================================

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
    parser.add_argument("--data-dir", type=Path, help="a folder with ratings_train.txt / ratings_test.txt "
                                                       "(default: ../shared/data/nsmc, else the samples repeated)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="markdown file a section is appended to")
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
        methods = [m for m in METHODS if device_kind == "cuda" or m not in GPU_ONLY_METHODS]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    started = time.perf_counter()
    threads = resolve_threads(args.threads)
    default_train, default_eval = DEFAULT_ROWS[(args.shape, device_kind)]
    train_rows, eval_rows = args.train_rows or default_train, args.eval_rows or default_eval

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work_dir = OUT_DIR / f"{stamp}-{args.shape}"
    work_dir.mkdir(parents=True, exist_ok=True)
    data_dir, data_source = find_data(args.data_dir, train_rows, eval_rows)
    vocab = SHARED / "vocab" / "koelectra-v1-vocab.txt"
    vocab_tag = "koelectra-v1" if vocab.is_file() else "samples"
    steps_per_epoch = math.ceil(train_rows / BATCH_SIZE)
    steps = args.steps or steps_per_epoch * (args.epochs or 1)
    job = {
        "shape": args.shape, "seed": args.seed, "device": device_kind, "bf16": args.bf16,
        "learning_rate": args.learning_rate or LEARNING_RATES[args.shape],
        "model_dir": str(OUT_DIR / "models" / f"{args.shape}-{vocab_tag}-seed{args.seed}"),
        "vocab": str(vocab) if vocab.is_file() else None,
        "data_dir": str(data_dir), "train_rows": train_rows, "eval_rows": eval_rows,
        "train_file_rows": count_rows(data_dir / "ratings_train.txt"),
        "eval_file_rows": count_rows(data_dir / "ratings_test.txt"),
        "steps": steps, "epochs": math.ceil(steps / steps_per_epoch),
        "warmup": round(WARMUP_RATIO * steps),  # what our trainer computes from train.warmup_ratio
        "work_dir": str(work_dir), "data_npz": str(work_dir / "data.npz"), "threads": threads,
    }
    job_file = work_dir / "job.json"
    job_file.write_text(json.dumps(job, indent=1))
    print(f"benchmark: shape {args.shape}, {train_rows} train / {eval_rows} eval rows, {steps} steps, "
          f"device {device_kind}{' bf16' if args.bf16 else ''}; logs in {work_dir}", flush=True)

    load_before = os.getloadavg()
    prepared = spawn("prepare", job_file, work_dir, device_kind)
    if prepared["train_rows"] != train_rows:
        print(f"note: {prepared['train_rows']} train rows available (asked for {train_rows})", flush=True)
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
    (work_dir / "results.json").write_text(json.dumps({"job": job, "prepared": prepared, "results": results,
                                                       "startup": startup}, indent=1, default=str))
    print(section)
    print(f"appended to {args.out} ({time.perf_counter() - started:.0f} s in all)")
    return 0


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


def count_rows(path: Path) -> int:
    with open(path, "rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)


def find_data(requested: Path | None, train_rows: int, eval_rows: int) -> tuple[Path, str]:
    """The real NSMC files when present; else the bundled samples, repeated up to the rows asked for."""
    if requested is not None:
        return requested.resolve(), str(requested)
    real = SHARED / "data" / "nsmc"
    if (real / "ratings_train.txt").is_file() and (real / "ratings_test.txt").is_file():
        return real.resolve(), "NSMC (`../shared/data/nsmc`: 150,000-row train file, official 50,000-row test file)"
    samples = ROOT / "data" / "samples" / "nsmc"
    target = OUT_DIR / "data" / f"nsmc-samples-{train_rows}-{eval_rows}"
    target.mkdir(parents=True, exist_ok=True)
    for name, rows in (("ratings_train.txt", train_rows), ("ratings_test.txt", eval_rows)):
        header, *lines = (samples / name).read_text(encoding="utf-8").splitlines()
        repeated = (lines * math.ceil(rows / len(lines)))[:rows]
        (target / name).write_text("\n".join([header, *repeated]) + "\n", encoding="utf-8")
    return target, "the bundled samples (`data/samples/nsmc`) repeated: NOT real data, accuracy is meaningless"


def spawn(worker: str, job_file: Path, work_dir: Path, device_kind: str, timeout_s: int = 1800) -> dict:
    """Run one worker in a fresh interpreter; its output goes to <work_dir>/<worker>.log."""
    threads = json.loads(job_file.read_text()).get("threads")
    result_file = work_dir / f"{worker}.json"
    result_file.unlink(missing_ok=True)
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error",
               TQDM_DISABLE="1", PYTHONUNBUFFERED="1")
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    if device_kind == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""  # our trainer picks its device through Accelerate: hide the GPU
    log_name = worker if worker != "startup" else f"startup-{len(list(work_dir.glob('startup*.log'))) + 1}"
    with open(work_dir / f"{log_name}.log", "w") as log:
        completed = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", worker,
                                    "--job", str(job_file), "--result", str(result_file)],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s)
    if completed.returncode != 0 or not result_file.is_file():
        tail = (work_dir / f"{log_name}.log").read_text(errors="replace")[-3000:]
        raise SystemExit(f"worker {worker} failed (exit {completed.returncode}):\n{tail}")
    return json.loads(result_file.read_text())


# ==================================================================================================
# the markdown section
# ==================================================================================================

def machine_description(device_kind: str) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parts = [f"CPU {cpu}, {cores} logical cores"]
    try:
        import psutil
        parts.append(f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM")
    except ImportError:
        pass
    import torch
    if torch.cuda.is_available():
        parts.append(f"GPU {torch.cuda.get_device_name(0)}" + ("" if device_kind == "cuda" else " (not used)"))
    else:
        parts.append("no GPU")
    return ", ".join(parts)


def versions() -> str:
    import accelerate
    import torch
    import transformers
    return (f"Python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}, "
            f"accelerate {accelerate.__version__}")


def threads_used(results: dict) -> str:
    counts = sorted({str(r.get("torch_threads")) for r in results.values()})
    return "/".join(counts) or "?"


def ratio(value: float | None, reference: float | None) -> str:
    if not value or not reference:
        return "-"
    return f"{value / reference:.2f}x"


ON_OFF = {True: "on", False: "off"}  # None: no GPU, the switch does not apply


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def render_markdown(args, job, prepared, results, startup, data_source, command, load_before, load_after,
                    total_s) -> str:
    device_kind = job["device"]
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    shape = SHAPES[args.shape]
    lines = [
        f"## {args.shape} shape, {device_kind}{' bf16' if args.bf16 else ''}: {when}",
        "",
        f"- command: `{command}` ({total_s:.0f} s in all)",
        f"- machine: {machine_description(device_kind)}; each method in its own process with "
        f"{threads_used(results)} torch thread(s) (`--threads {args.threads}`); load average {load_before[0]:.2f} "
        f"before, {load_after[0]:.2f} after (above 0 means other work shared the CPU)",
        f"- software: {versions()}",
        f"- data: {data_source}; {prepared['train_rows']:,} train rows (seeded subset of the train file), "
        f"{prepared['eval_rows']:,} evaluation rows (seeded subset of the test file), the same rows and token ids "
        f"for every method; mean length {prepared['train_mean_len']:.1f} tokens (p99 {prepared['train_p99_len']:.0f}, "
        f"{prepared['truncated']} rows at the {MAX_SEQ_LEN}-token limit)",
        f"- model: randomly initialised ELECTRA discriminator, hidden {shape['hidden']}, {shape['layers']} layers, "
        f"{shape['heads']} heads, embedding {shape['embedding']}, intermediate {shape['intermediate']}, vocabulary "
        f"{prepared['vocab_size']:,}: {prepared['parameters'] / 1e6:.2f}M parameters",
        f"- recipe (all methods): AdamW lr {job['learning_rate']:g}, weight decay {WEIGHT_DECAY} "
        "(not on biases/LayerNorm), "
        f"linear warmup {job['warmup']} steps then linear decay, clipping {MAX_GRAD_NORM}, batch {BATCH_SIZE}, "
        f"{job['steps']} optimizer steps ({job['steps'] * BATCH_SIZE / max(prepared['train_rows'], 1):.2f} epochs), "
        f"seed {job['seed']}, evaluation batch {EVAL_BATCH_SIZE}",
        "",
    ]
    memory_label = "peak GPU memory allocated, MiB" if device_kind == "cuda" else "peak RSS in training, MiB (+ growth)"
    reference_static = results.get("static", {}).get("train_samples_per_s")
    reference_hf = results.get("hf_grouped", {}).get("train_samples_per_s")
    lines += [
        f"| method | train samples/s | real tokens/s | padding | {memory_label} | accuracy | vs static | "
        f"vs HF group_by_length |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for method, result in results.items():
        memory = mib(result["memory_peak_bytes"])
        if device_kind != "cuda":
            memory += f" (+{mib(result['memory_peak_bytes'] - result['memory_start_bytes'])})"
        lines.append(
            f"| {METHODS[method]} | {result['train_samples_per_s']:,.1f} | {result['train_real_tokens_per_s']:,.0f} | "
            f"{100 * result['train']['padding']:.1f}% | {memory} | {result['accuracy']:.4f} | "
            f"{ratio(result['train_samples_per_s'], reference_static)} | "
            f"{ratio(result['train_samples_per_s'], reference_hf)} |")
    if "ours" in results:
        ours = results["ours"]
        summary = [f"ours vs static {ratio(ours['train_samples_per_s'], reference_static)}",
                   f"ours vs HF group_by_length {ratio(ours['train_samples_per_s'], reference_hf)}"]
        hf_predict = [ratio(ours["eval_samples_per_s"], results.get(name, {}).get("eval_samples_per_s"))
                      for name in ("hf_grouped", "hf_random")]
        summary.append(f"evaluation: ours vs HF predict {hf_predict[0]} (group_by_length), {hf_predict[1]} (random)")
        switched = results.get("hf_grouped_no_cudnn_attention")
        if switched:
            summary.append(f"against HF group_by_length with cuDNN attention off too: training "
                           f"{ratio(ours['train_samples_per_s'], switched['train_samples_per_s'])}, evaluation "
                           f"{ratio(ours['eval_samples_per_s'], switched['eval_samples_per_s'])}")
        lines += ["", "Ratios: " + "; ".join(summary) + ". Accuracies are one seed each."]
    eval_static = results.get("static", {}).get("eval_samples_per_s")
    eval_hf = results.get("hf_grouped", {}).get("eval_samples_per_s")
    eval_hf_random = results.get("hf_random", {}).get("eval_samples_per_s")
    lines += [
        "",
        "Evaluation / prediction over the evaluation rows (ours: `predict_logits`, HF: `trainer.predict`, static: "
        "padded loop; best of 2 passes):",
        "",
        "| method | eval samples/s | eval padding | vs static | vs HF group_by_length | vs HF random |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for method, result in results.items():
        lines.append(
            f"| {METHODS[method]} | {result['eval_samples_per_s']:,.1f} | {100 * result['eval']['padding']:.1f}% | "
            f"{ratio(result['eval_samples_per_s'], eval_static)} | {ratio(result['eval_samples_per_s'], eval_hf)} | "
            f"{ratio(result['eval_samples_per_s'], eval_hf_random)} |")
    lines += [
        "",
        f"| method | training s | CPU s in training | samples per CPU s | steps | train loss, last {LOG_EVERY} steps | "
        "optimizer | cuDNN attention | samples/s as the method reports it |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for method, result in results.items():
        own = (result.get("own_report") or {}).get("train_samples_per_s")
        loss = result.get("final_train_loss")
        per_cpu = result["train"]["rows"] / result["train_cpu_s"] if result["train_cpu_s"] else 0
        lines.append(f"| {method} | {result['train_time_s']:.1f} | {result['train_cpu_s']:.1f} | {per_cpu:,.1f} | "
                     f"{result['steps']} | "
                     f"{'-' if loss is None else f'{loss:.4f}'} | {result['optimizer']} | "
                     f"{ON_OFF.get(result.get('cudnn_attention'), '-')} | {'-' if own is None else f'{own:,.1f}'} |")
    if startup:
        lines += [
            "",
            f"Start-up of our trainer on the whole train file ({startup[-1]['train_rows']:,} train + "
            f"{startup[-1]['dev_rows']:,} dev rows held out, {startup[-1]['eval_rows']:,} evaluation rows): seconds "
            "from just after the imports to the first training step, in a fresh process.",
            "",
            "| run | token cache | to first step, s | of which: read + validate files | token ids (key + cache) | "
            "cache read | model load | tokenizer load | imports before, s | peak RSS, MiB |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for number, run in enumerate(startup, 1):
            spent = run["breakdown_s"]
            lines.append(
                f"| {number} | {run['cache']} | {run['to_first_step_s']:.2f} | "
                f"{spent.get('read and validate files', 0):.2f} | "
                f"{spent.get('token ids (cache key + cache read, or tokenize)', 0):.2f} | "
                f"{spent.get('token cache read', 0):.2f} | {spent.get('model load', 0):.2f} | "
                f"{spent.get('tokenizer load', 0):.2f} | {run['imports_s']:.1f} | {mib(run['peak_rss_bytes'])} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
