"""The benchmark's workers: each method (ours, the static loop, the HF Trainer), the data preparation and the
start-up measurement, each run in a fresh process by benchmark.py (`--worker NAME`), writing one JSON file.
How they measure is in measure.py. See bench/README.md."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

from common import (BATCH_SIZE, EVAL_BATCH_SIZE, LOG_EVERY, MAX_GRAD_NORM, MAX_SEQ_LEN, SHAPES, WARMUP_RATIO,
                    WEIGHT_DECAY)
from measure import (BatchLog, MemoryWatch, accuracy, cpu_seconds, describe_optimizer, load_prepared, mean_loss,
                     pick_device, synchronize, time_evaluation, train_result)


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
    from koelectra_cookbook.commands.train import parse_args
    from koelectra_cookbook.config.resolve import resolve_config
    from koelectra_cookbook.data.dataset import load_task_data
    from koelectra_cookbook.classifier.loading import load_tokenizer

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
    """A randomly initialised ELECTRA discriminator checkpoint (with its tokenizer) of the given shape, built
    whole beside its place (another worker may build the same one)."""
    from koelectra_cookbook.files.atomic import atomic_folder
    from koelectra_cookbook.classifier.tiny import build_tiny_electra, sample_files, train_vocab

    dims = SHAPES[shape]
    with atomic_folder(out_dir, replace=False, shared=True) as building:
        build_tiny_electra(building, Path(vocab) if vocab else train_vocab(sample_files()), hidden_size=dims["hidden"],
                           num_layers=dims["layers"], num_heads=dims["heads"], seed=seed,
                           embedding_size=dims["embedding"], intermediate_size=dims["intermediate"])


def worker_ours(job: dict) -> dict:
    """Our ExpertTrainer, constructed in-process exactly as train_expert.py does, trained with fit()."""
    import hashlib
    import numpy as np
    from koelectra_cookbook.commands.train import parse_args
    from koelectra_cookbook.config.resolve import resolve_config
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
    from transformers import AutoModelForSequenceClassification, get_scheduler, set_seed

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
    scheduler = get_scheduler("linear", optimizer, num_warmup_steps=job["warmup"], num_training_steps=job["steps"])
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


def worker_hf(job: dict, strategy: str, cudnn_attention: bool = True, static: bool = False) -> dict:
    """transformers' Trainer as its documentation sets it up: DataCollatorWithPadding (pad to the longest row
    of each batch, or with static=True every row to max_seq_len), train_sampling_strategy "random" or
    "group_by_length", trainer.predict for evaluation. cudnn_attention=False makes the one switch our trainer
    makes on a GPU (avoid_per_shape_attention_plans in model.py), to show how much of our lead is that switch."""
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
    padding = {"padding": "max_length", "max_length": MAX_SEQ_LEN} if static else {}
    trainer = LossKeeping(model=model, args=arguments, train_dataset=Rows(train_ids, train_labels),
                      data_collator=BatchLog(DataCollatorWithPadding(tokenizer, **padding), records),
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


class _FirstStep(Exception):
    pass


def worker_startup(job: dict) -> dict:
    """Seconds from just after the imports to our trainer's first training step, on the whole NSMC train file
    (and the whole evaluation file), with a breakdown of where they go."""
    import psutil
    from koelectra_cookbook.commands.train import parse_args
    from koelectra_cookbook.config.resolve import resolve_config
    from koelectra_cookbook.data import dataset as dataset_module
    from koelectra_cookbook.data import raw_files as raw_files_module
    from koelectra_cookbook.data import token_cache as token_cache_module
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
    timed(raw_files_module, "read_labelled", "read and validate files")
    timed(dataset_module, "encode_texts", "token ids (cache key + cache read, or tokenize)")
    timed(token_cache_module, "_load_cache", "token cache read")

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
    "hf_static": lambda job: worker_hf(job, "random", static=True),
    "startup": worker_startup,
}


def run_worker(name: str, job_file: Path, result_file: Path) -> None:
    job = json.loads(job_file.read_text())
    result = WORKERS[name](job)
    import torch
    result["torch_threads"] = torch.get_num_threads()
    result["cudnn_attention"] = torch.backends.cuda.cudnn_sdp_enabled() if torch.cuda.is_available() else None
    result_file.write_text(json.dumps(result, indent=1, default=str))
