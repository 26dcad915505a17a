"""The run directory: everything a run leaves behind, in one place that is never overwritten.

    <output-dir>/<task>/<level>-<YYYYmmdd-HHMMSS>/
        config.yaml  metrics.csv  results.json  predictions.csv  model/  checkpoints/  plots/
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

METRICS_FIRST_COLUMNS = ["epoch", "step", "train_loss", "learning_rate", "loss"]


class RunDirectory:
    """Creates the run's folder and writes its files. Only the main process should call the writers."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.model_dir = self.path / "model"
        self.checkpoints_dir = self.path / "checkpoints"
        self.plots_dir = self.path / "plots"
        self.metrics_file = self.path / "metrics.csv"

    @classmethod
    def create(cls, output_dir: Path, task: str, level: str) -> "RunDirectory":
        """Make a new, empty run directory; a second run started in the same second gets a `-2` suffix."""
        parent = Path(output_dir) / task
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            for attempt in range(1, 1000):
                path = parent / (f"{level}-{stamp}" if attempt == 1 else f"{level}-{stamp}-{attempt}")
                try:
                    path.mkdir()  # atomic: fails if another run took the name first
                    return cls(path)
                except FileExistsError:
                    continue
        except OSError as exc:
            raise UserError(f"cannot create a run directory under {parent}: {exc.strerror}") from None
        raise UserError(f"cannot find a free run directory name under {parent}")

    def write_config(self, config_dict: dict[str, Any]) -> None:
        """Write the resolved config: every key, defaults included, as the run used it."""
        text = yaml.safe_dump(config_dict, sort_keys=False, allow_unicode=True)
        _atomic_write(self.path / "config.yaml", text)

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Add one evaluation's row to metrics.csv; the header comes from the first row."""
        new_file = not self.metrics_file.exists()
        with open(self.metrics_file, "a", newline="", encoding="utf-8") as handle:
            if new_file:
                columns = METRICS_FIRST_COLUMNS + [k for k in row if k not in METRICS_FIRST_COLUMNS]
            else:
                with open(self.metrics_file, encoding="utf-8") as existing:
                    columns = next(csv.reader(existing))
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({k: _format(row.get(k)) for k in columns})

    def write_results(self, results: dict[str, Any]) -> None:
        _atomic_write(self.path / "results.json", json.dumps(results, indent=2, ensure_ascii=False) + "\n")

    def write_csv(self, file_name: str, columns: dict[str, list]) -> None:
        """Write a CSV file from named columns of equal length (predictions.csv, per_label.csv)."""
        names = list(columns)
        partial = self.path / f"{file_name}.part"
        with open(partial, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            writer.writerows(zip(*(columns[name] for name in names)))
        os.replace(partial, self.path / file_name)


def flat_config(nested: dict, prefix: str = "") -> dict:
    """{"train": {"epochs": 3}} -> {"train.epochs": 3}; lists and null as text, as trackers want scalars."""
    flat = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat


def check_free_space(output_dir: Path, needed_bytes: int) -> None:
    """Refuse to start a run that cannot be saved: better now than after hours of training."""
    existing = Path(output_dir).resolve()
    while not existing.exists():
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if free < needed_bytes:
        raise UserError(f"{output_dir}: {free / 2**20:.0f} MiB free, but this run needs about "
                        f"{needed_bytes / 2**20:.0f} MiB for its model and checkpoints; free some space or choose "
                        f"another --output-dir (or a lower train.save_total_limit)")


def _format(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value


def _atomic_write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
