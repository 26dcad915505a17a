"""The markdown section benchmark.py appends to docs/history/benchmarks-log.md: the machine, the software, the data and
recipe, and the tables, all from the workers' results."""

from __future__ import annotations

import datetime
import os
import platform

from common import BATCH_SIZE, EVAL_BATCH_SIZE, LOG_EVERY, MAX_GRAD_NORM, MAX_SEQ_LEN, METHODS, SHAPES, WEIGHT_DECAY


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
