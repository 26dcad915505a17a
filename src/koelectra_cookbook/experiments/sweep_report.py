"""What a sweep prints: a line per finished trial, and the mean +- std of the best config's repeated seeds."""

from __future__ import annotations

from pathlib import Path

from koelectra_cookbook.experiments.compare import mean_std
from koelectra_cookbook.runs.reader import read_results


def finished_line(trial) -> str:
    """`trial 3 complete: 0.8123 | train.learning_rate 0.000321, train.batch_size 32`, or pruned, or failed."""
    params = ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
                       for key, value in trial.params.items())
    state = trial.state.name.lower()
    if state == "complete":
        outcome = f"complete, dev {trial.value:.4f}"
    elif state == "pruned" and trial.intermediate_values:
        step = max(trial.intermediate_values)
        outcome = f"pruned at evaluation {step}, dev {trial.intermediate_values[step]:.4f}"
    else:
        outcome = state
    return f"trial {trial.number} {outcome} | {params}"


def repeat_summary(run_dirs: list[Path], metrics: list[str]) -> str:
    """`best config over 3 seeds: eval accuracy 0.8123 +- 0.0041 ...` from the runs' results.json."""
    results = [read_results(run) for run in run_dirs]
    lines = [f"best config over {len(run_dirs)} seeds (mean +- std; runs in {Path(run_dirs[0]).parent}):"]
    for split in ("eval", "dev"):
        parts = []
        for name in [*metrics, "loss"]:
            values = [r[split][name] for r in results if isinstance(r.get(split), dict)
                      and isinstance(r[split].get(name), (int, float))]
            if values:
                parts.append(f"{name} {mean_std(values)}")
        lines.append(f"  {split}: " + "  ".join(parts))
    return "\n".join(lines)
