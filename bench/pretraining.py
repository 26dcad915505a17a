"""Continued pretraining measured (issue 32): throughput against the Hugging Face `run_mlm.py` recipe, task-adaptive
pretraining with few labels, replaced-token detection against masked-language modelling, and a domain shift.
From-scratch tiny ELECTRAs with the KoELECTRA vocabulary; every run is a fresh process of the project's own
scripts (`pretrain.py`, `train_expert.py`), whose results.json gives the figures.

    V=../shared/vocab/koelectra-v1-vocab.txt
    python bench/pretraining.py throughput --vocab $V --nsmc ../shared/data/nsmc          # ~8 min on 2 cores
    python bench/pretraining.py tapt --vocab $V --nsmc ../shared/data/nsmc --rtd-steps 1500
    python bench/pretraining.py shift --nsmc ../shared/data/nsmc --petitions ../shared/data/petitions
    python bench/pretraining.py longer --rtd-steps 3000     # replaced tokens alone, a longer budget, fine-tuned
    python bench/pretraining.py throughput --device cuda --shapes small,base --steps 200   # on a GPU (bench/gpu.sh)

Each stage writes bench/out/pretraining/<stage>.json and prints a markdown table. `tapt` pretrains with
replaced-token detection for --rtd-steps, then with masked-language modelling for as many steps and for the steps
that take as long (from the throughput stage's tokens/s), and fine-tunes each body, and random weights, on 1,000
and 5,000 labelled reviews. `shift` continues tapt's replaced-token model on the petitions' texts and fine-tunes
on the petitions, beside fine-tuning the reviews model directly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import common  # noqa: E402
from common import SHAPES  # noqa: E402

OUT = ROOT / "bench" / "out" / "pretraining"
NSMC, PETITIONS = ["--task", "nsmc"], ["--config", str(ROOT / "config" / "petitions.yaml")]
BATCH, LENGTH = 32, 128
PRETRAIN = {"train.batch_size": BATCH, "model.max_seq_len": LENGTH, "train.learning_rate": 5e-4,
            "train.warmup_ratio": 0.1, "data.dev_split": 0.02, "train.eval_every": None, "train.log_every": 100,
            "train.epochs": 1000}  # train.max_steps decides (3 epochs of the reviews are 2,070 steps)


def body(shape: str, vocab: Path) -> Path:
    """A random ELECTRA discriminator of `shape` with the vocabulary, built once."""
    from koelectra_cookbook.classifier.tiny import build_tiny_electra

    target = OUT / "models" / shape
    if not (target / "config.json").is_file():
        s = SHAPES[shape]
        build_tiny_electra(target, vocab, s["hidden"], s["layers"], s["heads"], seed=0,
                           embedding_size=s["embedding"], intermediate_size=s["intermediate"])
    return target


def run_script(script: str, sets: dict, extra: list[str] = ()) -> Path:
    """A project script in a fresh process, its runs under OUT/runs; its run directory."""
    return common.run_script(script, [*extra, "--output-dir", str(OUT / "runs")], sets, f"{script} {' '.join(extra)}")


def results(run: Path) -> dict:
    return json.loads((run / "results.json").read_text())


def pretrain(model: Path, data_dir: Path, task: list[str], objective: str, steps: int, **sets) -> Path:
    """pretrain.py on a task's training texts (`task`: ["--task", NAME] or ["--config", FILE])."""
    return run_script("pretrain.py", {**PRETRAIN, "model.name_or_path": model, "data.dir": data_dir,
                                      "data.cache_dir": OUT / "cache", "pretrain.objective": objective,
                                      "train.max_steps": steps, **sets}, task)


# --- throughput: ours (both objectives) against the run_mlm.py recipe on the same blocks -------------------------

def hf_mlm_worker(model: Path, blocks_file: Path, steps: int, device: str = "cpu") -> None:
    """run_mlm.py's recipe: transformers.Trainer and DataCollatorForLanguageModeling (15%, 80/10/10) on an
    ElectraForMaskedLM of the discriminator's shape, over the blocks our corpus cache packed (the same tokens)."""
    import numpy as np
    import torch
    from transformers import (AutoTokenizer, DataCollatorForLanguageModeling, ElectraConfig, ElectraForMaskedLM,
                              Trainer, TrainingArguments)

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model)
    blocks = np.load(blocks_file)[: steps * BATCH]
    rows = [{"input_ids": block.tolist()} for block in blocks]
    args = TrainingArguments(output_dir=str(OUT / "hf"), per_device_train_batch_size=BATCH, max_steps=steps,
                             learning_rate=5e-4, warmup_steps=round(0.1 * steps), weight_decay=0.01, max_grad_norm=1.0,
                             logging_steps=10**6,
                             save_strategy="no", report_to="none", use_cpu=device == "cpu", bf16=device == "cuda",
                             dataloader_num_workers=0, seed=0)
    trainer = Trainer(model=ElectraForMaskedLM(ElectraConfig.from_pretrained(model)), args=args, train_dataset=rows,
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15))
    runtime = trainer.train().metrics["train_runtime"]
    print(json.dumps({"tokens_per_s": steps * BATCH * LENGTH / runtime, "seconds": runtime}))


def matmul_share(model: Path, blocks_file: Path, steps: int = 8) -> float:
    """The share of CPU time our replaced-token step spends in matrix multiplies (torch.profiler, self time)."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining

    from koelectra_cookbook.pretraining.replaced_tokens import ReplacedTokenDetection, generator_config

    tokenizer = AutoTokenizer.from_pretrained(model)
    discriminator = ElectraForPreTraining.from_pretrained(model)
    objective = ReplacedTokenDetection(discriminator, ElectraForMaskedLM(generator_config(discriminator.config,
                                                                                          0.25)),
                                       tokenizer.mask_token_id, tokenizer.all_special_ids)
    optimizer = torch.optim.AdamW(objective.parameters(), lr=5e-4)
    ids = torch.from_numpy(np.load(blocks_file)[: BATCH].astype(np.int64))
    mask = torch.ones_like(ids)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for _ in range(steps):
            objective(ids, mask).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    events = profile.key_averages()
    total = sum(event.self_cpu_time_total for event in events)
    matmuls = sum(event.self_cpu_time_total for event in events
                  if event.key in ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_mkldnn_matmul")
                  or "scaled_dot_product" in event.key)
    return matmuls / total


def throughput(args) -> dict:
    figures = {}
    for shape in args.shapes.split(","):
        model, steps = body(shape, args.vocab), args.steps if shape == "tiny" else max(10, args.steps // 4)
        shape_figures = {}
        for objective in ("replaced_tokens", "masked_lm"):
            run = pretrain(model, args.nsmc, NSMC, objective, steps)
            shape_figures[objective] = {"tokens_per_s": results(run)["train_samples_per_s"] * LENGTH,
                                        "seconds": results(run)["train_runtime_s"]}
        blocks_file = OUT / "blocks.npy"
        if not blocks_file.is_file():  # the blocks ours trained on, from its cache
            import numpy as np

            cache = max((OUT / "cache").glob("blocks-*.npy"), key=lambda p: p.stat().st_size)
            np.save(blocks_file, np.load(cache, mmap_mode="r")[: 200 * BATCH])
        worker = subprocess.run([sys.executable, __file__, "hf-worker", str(model), str(blocks_file), str(steps),
                                 args.device],
                                capture_output=True, text=True)
        if worker.returncode != 0:
            sys.exit(worker.stderr[-3000:])
        shape_figures["run_mlm recipe"] = json.loads(worker.stdout.strip().splitlines()[-1])
        shape_figures["matmul_share"] = matmul_share(model, blocks_file) if args.device == "cpu" else None
        shape_figures["steps"] = steps
        figures[shape] = shape_figures
    print("| shape | method | tokens/s | x run_mlm |\n|---|---|---|---|")
    for shape, f in figures.items():
        base = f["run_mlm recipe"]["tokens_per_s"]
        for method in ("run_mlm recipe", "replaced_tokens", "masked_lm"):
            print(f"| {shape} | {method} | {f[method]['tokens_per_s']:,.0f} | {f[method]['tokens_per_s'] / base:.2f} |")
        if f["matmul_share"] is not None:
            print(f"| {shape} | ours RTD: time in matrix multiplies | {f['matmul_share']:.0%} | |")
    return figures


# --- task-adaptive pretraining, few labels; replaced tokens against masked LM -----------------------------------

def fine_tune(model: Path, data_dir: Path, rows: int | None, task: list[str] = NSMC, **sets) -> dict:
    run = run_script("train_expert.py", {"model.name_or_path": model, "data.dir": data_dir,
                                         "data.cache_dir": OUT / "cache", "data.max_train_samples": rows,
                                         "data.max_eval_samples": 5000, "train.learning_rate": 5e-4,
                                         "train.epochs": 5, "train.batch_size": BATCH, "model.max_seq_len": LENGTH,
                                         "train.es_patience": None, **sets}, task)
    return results(run)["eval"]


def tapt(args) -> dict:
    model = body("tiny", args.vocab)
    speed = json.loads((OUT / "throughput.json").read_text())["tiny"]
    equal_time = round(args.rtd_steps * speed["replaced_tokens"]["tokens_per_s"] / speed["masked_lm"]["tokens_per_s"])
    bodies = {"random weights": (model, 0, 0)}
    for name, objective, steps in (("replaced tokens, a quarter of the steps", "replaced_tokens", args.rtd_steps // 4),
                                   ("replaced tokens", "replaced_tokens", args.rtd_steps),
                                   ("masked LM, equal steps", "masked_lm", args.rtd_steps),
                                   ("masked LM, equal time", "masked_lm", equal_time)):
        started = time.perf_counter()
        run = pretrain(model, args.nsmc, NSMC, objective, steps)
        outcome = results(run)
        bodies[name] = (run / "model", steps, time.perf_counter() - started, outcome["eval"],
                        outcome["held_out_at_start"])
        print(f"{name}: {steps} steps, {bodies[name][2]:.0f} s, held out {outcome['held_out_at_start']} -> "
              f"{outcome['eval']}", flush=True)
    table = {}
    for name, (path, *rest) in bodies.items():
        table[name] = {"steps": rest[0], "pretraining_s": rest[1], "model": str(path),
                       "held_out": rest[2] if len(rest) > 2 else None,
                       "held_out_at_start": rest[3] if len(rest) > 3 else None,
                       **{f"accuracy_{rows}": fine_tune(path, args.nsmc, rows)["accuracy"] for rows in (1000, 5000)}}
        print(name, table[name], flush=True)
    return table


def longer(args) -> dict:
    """Replaced-token detection alone for --rtd-steps (a longer budget than tapt's), fine-tuned as tapt does."""
    started = time.perf_counter()
    run = pretrain(body("tiny", args.vocab), args.nsmc, NSMC, "replaced_tokens", args.rtd_steps)
    seconds = time.perf_counter() - started
    table = {"steps": args.rtd_steps, "pretraining_s": seconds, "held_out": results(run)["eval"],
             "held_out_at_start": results(run)["held_out_at_start"], "model": str(run / "model"),
             **{f"accuracy_{rows}": fine_tune(run / "model", args.nsmc, rows)["accuracy"] for rows in (1000, 5000)}}
    print(table, flush=True)
    return table


def shift(args) -> dict:
    reviews = Path(json.loads((OUT / "tapt.json").read_text())["replaced tokens"]["model"])
    run = pretrain(reviews, args.petitions, PETITIONS, "replaced_tokens", args.steps,
                   **{"pretrain.generator": reviews.parent / "generator", "data.long_text": "truncate"})
    petitions = {"data.long_text": "truncate", "train.epochs": 3, "data.max_eval_samples": None}
    table = {}
    for name, model in (("random weights", body("tiny", args.vocab)), ("reviews", reviews),
                        ("reviews, then petitions", run / "model")):
        outcome = fine_tune(model, args.petitions, None, PETITIONS, **petitions)
        table[name] = {"accuracy": outcome["accuracy"], "macro_f1": outcome.get("macro_f1")}
        print(name, table[name], flush=True)
    table["petitions pretraining"] = {"steps": args.steps, "held_out": results(run)["eval"],
                                      "held_out_at_start": results(run)["held_out_at_start"]}
    return table


def main() -> None:
    if sys.argv[1:2] == ["hf-worker"]:
        hf_mlm_worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=["throughput", "tapt", "shift", "longer"])
    parser.add_argument("--vocab", type=Path, default=ROOT.parent / "shared" / "vocab" / "koelectra-v1-vocab.txt")
    parser.add_argument("--nsmc", type=Path, default=ROOT.parent / "shared" / "data" / "nsmc")
    parser.add_argument("--petitions", type=Path, default=ROOT.parent / "shared" / "data" / "petitions")
    parser.add_argument("--shapes", default="tiny,small")
    parser.add_argument("--steps", type=int, default=60, help="throughput: steps at the tiny shape; shift: steps")
    parser.add_argument("--rtd-steps", type=int, default=1500)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="throughput: cuda trains both in bf16 (ours: train.mixed_precision=bf16)")
    args = parser.parse_args()
    if args.device == "cuda":
        PRETRAIN["train.mixed_precision"] = "bf16"
    os.environ.setdefault("OMP_NUM_THREADS", str(os.cpu_count()))
    OUT.mkdir(parents=True, exist_ok=True)
    figures = {"throughput": throughput, "tapt": tapt, "shift": shift, "longer": longer}[args.stage](args)
    (OUT / f"{args.stage}.json").write_text(json.dumps(figures, indent=2, default=str))


if __name__ == "__main__":
    main()
