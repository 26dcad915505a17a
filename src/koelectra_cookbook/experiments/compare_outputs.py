"""compare.py's files: the table as CSV, and one figure of every run's dev curves (--csv, --plot)."""

from __future__ import annotations

import io
import math
from pathlib import Path

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.files.safe_json import DamagedState
from koelectra_cookbook.files.tables import cell
from koelectra_cookbook.runs.reader import read_metrics


def check_output(output: Path, runs: list[Path]) -> None:
    """An output file may not be a link, a folder, or lie inside a run directory (it would replace a run's file)."""
    if output.is_symlink() or output.is_dir():
        raise UserError(f"{cell(str(output), 300)}: is a link or a folder; name a new file")
    where = output.resolve()
    for run in runs:
        if where.is_relative_to(run.resolve()):
            raise UserError(f"{cell(str(output), 300)}: lies inside run {cell(str(run), 300)}; "
                            f"write it outside the run directories")


def read_curves(metrics_csv: Path, metric: str) -> dict[str, list[tuple[float, float]]]:
    """(step, value) points of `metric` and `loss` from a run's metrics.csv; rows that are not numbers are
    left out, and an unreadable file gives no points."""
    curves: dict[str, list[tuple[float, float]]] = {metric: [], "loss": []}
    try:
        rows = read_metrics(metrics_csv)
    except DamagedState:
        return curves
    for row in rows:
        step = _number(row.get("step"))
        for name in curves:
            value = _number(row.get(name))
            if step is not None and value is not None:
                curves[name].append((step, value))
    return curves


def write_plot(output: Path, runs: list, keys: list[str]) -> None:
    """Dev headline metric (left) and dev loss (right) of every run against the step; legend = differing keys
    (and the task, when runs of several tasks are drawn)."""
    from koelectra_cookbook.runs.plots import plt  # the Agg backend, set up once by plots.py

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    several_tasks = len({run.task for run in runs}) > 1
    for run in runs:
        curves = read_curves(run.path / "metrics.csv", run.metric)
        label = ", ".join(f"{key.split('.')[-1]}={cell(run.config.get(key), 20)}" for key in keys) or run.path.name
        if several_tasks:
            label = f"{run.task} {run.metric}: {label}"
        if len({repr(other.config.get("train.seed")) for other in runs}) > 1:
            label += f" (seed {run.config.get('train.seed')})"
        for axis, name in ((left, run.metric), (right, "loss")):
            if curves[name]:
                steps, values = zip(*curves[name])
                axis.plot(steps, values, marker="o" if len(steps) <= 20 else None, label=label[:100])
    left.set_title("dev " + " / ".join(sorted({run.metric for run in runs})))
    right.set_title("dev loss")
    for axis in (left, right):
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    handles, labels = left.get_legend_handles_labels()
    if handles:
        figure.legend(handles[:30], labels[:30], loc="lower center", ncol=min(2, len(handles)), fontsize=7)
        figure.subplots_adjust(bottom=0.12 + 0.04 * math.ceil(min(30, len(handles)) / 2))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # the whole legend, however long its labels
    plt.close(figure)
    atomic_write(output, buffer.getvalue())


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
