"""What a run prints before and after training: plain text built from a trainer's state."""

from __future__ import annotations


def run_summary(trainer) -> str:
    """The data, the model, the schedule and where the run goes, printed before training."""
    data, config, train = trainer.data, trainer.config, trainer.config.train
    names = trainer.label_names
    predicts = ("a score (regression)" if trainer.regression else "unlabelled text" if not names else
                f"{len(names)} labels ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})")
    lines = [f"task {config.task}: {len(data.train)} train, {len(data.dev) if data.dev is not None else 0} dev, "
             f"{len(data.eval)} eval rows; {predicts}"]
    lines += [f"  {note}" for note in data.notes]
    parameters = sum(p.numel() for p in trainer.model.parameters())
    processes = trainer.accelerator.num_processes
    accumulation = trainer.accumulation_steps()
    effective_batch = train.batch_size * accumulation * processes
    lines.append(f"model {config.model.name_or_path}: {parameters / 1e6:.1f}M parameters on "
                 f"{trainer.accelerator.device}" + (f" x {processes} processes" if processes > 1 else ""))
    factors = [f"batch {train.batch_size}", *([f"accumulation {accumulation}"] if accumulation > 1 else []),
               f"{processes} processes"]
    lines.append(f"{trainer.total_steps} optimizer steps; effective batch {effective_batch} ({' x '.join(factors)}), "
                 f"learning rate {train.learning_rate:g}")
    lines.append(f"run directory {trainer.run_dir.path}")
    return "\n".join(lines)


def results_summary(results: dict, calibration: str | None = None) -> str:
    """The final metrics, what calibration did, and the training speed, printed after the run."""
    lines = [f"{split}: " + "  ".join(f"{k} {v:.4f}" for k, v in results[split].items())
             for split in ("dev", "eval") if split in results]
    lines += [calibration] if calibration else []
    lines.append(f"training: {results['train_runtime_s']} s, {results['train_samples_per_s']} samples/s")
    return "\n".join(lines)
