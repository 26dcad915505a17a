"""A run's files read back, in one place: run.json (the identity), results.json (the final metrics) and
metrics.csv (a row per evaluation). Run folders may come from anyone (a zip file, a shared disk), so each file
is read with a size limit, never through a link, and its shape checked; a damaged file is `DamagedState`,
which each caller turns into its own message (an error line, a skipped run, a note on the web page)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from koelectra_cookbook.classifier.folder_checks import PICKLED_WEIGHTS, SAFE_WEIGHTS
from koelectra_cookbook.files.safe_json import DamagedState, read_json

IDENTITY_FILE = "run.json"
RESULTS_FILE = "results.json"
METRICS_FILE = "metrics.csv"
TRAIN_LOG_FILE = "train_log.csv"  # the training loss and learning rate every train.log_every steps
IDENTITY_LIMIT = 16 * 2**20  # the resolved config holds every key: small, but label lists can be long
RESULTS_LIMIT = 2**20
METRICS_LIMIT = 16 * 2**20


def enclosing_model_or_run(path: Path) -> tuple[str, Path] | None:
    """("model", folder) when `path` is a model folder or lies inside one (a config.json beside weights), ("run",
    folder) when it is a run folder or lies inside one (a run.json); None otherwise. What writes files (the token
    cache, predict.py's --output) asks first: nothing lands in a model or another run."""
    target = Path(path).expanduser().resolve()
    for folder in [target, *target.parents]:
        if (folder / "config.json").is_file() and any((folder / name).is_file()
                                                      for name in SAFE_WEIGHTS + PICKLED_WEIGHTS):
            return "model", folder
        if (folder / IDENTITY_FILE).is_file():
            return "run", folder
    return None


def read_identity(run_dir: Path) -> dict[str, Any]:
    """run.json: {"level", "task", "config"} as the run was started (level and task names, config a mapping)."""
    return checked_identity(read_json(Path(run_dir) / IDENTITY_FILE, limit=IDENTITY_LIMIT))


def checked_identity(identity: Any) -> dict[str, Any]:
    """`identity` when it has the shape of a run.json, else DamagedState."""
    if not (isinstance(identity, dict) and isinstance(identity.get("level"), str)
            and isinstance(identity.get("task"), str) and isinstance(identity.get("config"), dict)):
        raise DamagedState(f"{IDENTITY_FILE} is damaged (expected level, task and config)")
    return identity


def read_results(run_dir: Path) -> dict[str, Any]:
    """results.json as a mapping (a finished run's "eval", "dev", "best_step", ...)."""
    results = read_json(Path(run_dir) / RESULTS_FILE, limit=RESULTS_LIMIT)
    if not isinstance(results, dict):
        raise DamagedState(f"{RESULTS_FILE} is not a JSON object")
    return results


def read_metrics_rows(metrics_csv: Path) -> list[list[str]]:
    """metrics.csv as rows of cells, its header first ([] for an empty file)."""
    try:
        if metrics_csv.is_symlink() or not metrics_csv.is_file():
            raise DamagedState(f"{metrics_csv.name} is missing or not a regular file")
        if metrics_csv.stat().st_size > METRICS_LIMIT:
            raise DamagedState(f"{metrics_csv.name} is larger than {METRICS_LIMIT} bytes")
        text = metrics_csv.read_text(encoding="utf-8")
        return list(csv.reader(io.StringIO(text, newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DamagedState(f"{metrics_csv.name} is unreadable ({exc})") from None


def read_metrics(metrics_csv: Path) -> list[dict[str, str]]:
    """metrics.csv as one mapping per evaluation, keyed by the header's column names."""
    rows = read_metrics_rows(metrics_csv)
    return [dict(zip(rows[0], row)) for row in rows[1:]] if rows else []
