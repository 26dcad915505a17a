"""The run directory: everything a run leaves behind, in one place that is never overwritten.

    <output-dir>/<task>/<level>-<YYYYmmdd-HHMMSS>/
        config.yaml  run.json  metrics.csv  train_log.csv  results.json  predictions.csv  model/  checkpoints/  plots/

run.json is the run's identity, written once when the run starts: its level, its task and the config it was
started with, so `--resume` can refuse a run of another level and a config.yaml edited since. While a process
works in a run directory it holds a lock on its `.lock` file, so a second process cannot resume it at the same
time; the operating system releases the lock when the process ends, however it ends.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any

import yaml

from koelectra_cookbook.config.parsing import flatten
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.files.safe_json import DamagedState, read_json
from koelectra_cookbook.files.tables import columns_csv_text
from koelectra_cookbook.runs.reader import (IDENTITY_FILE, IDENTITY_LIMIT, METRICS_FILE, RESULTS_FILE,
                                            TRAIN_LOG_FILE, checked_identity)

METRICS_FIRST_COLUMNS = ["epoch", "step", "train_loss", "learning_rate", "loss"]
TRAIN_LOG_COLUMNS = ["epoch", "step", "loss", "learning_rate", "grad_norm"]


class RunDirectory:
    """Creates the run's folder and writes its files. Only the main process should call the writers."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.model_dir = self.path / "model"
        self.checkpoints_dir = self.path / "checkpoints"
        self.plots_dir = self.path / "plots"
        self.metrics_file = self.path / METRICS_FILE
        self.train_log_file = self.path / TRAIN_LOG_FILE
        self._lock = None

    @classmethod
    def create_in(cls, parent: Path, level: str) -> "RunDirectory":
        """Make a new, empty run directory (locked) in `parent`; a second run started in the same second gets
        `-2`."""
        parent = Path(parent)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            for attempt in range(1, 1000):
                path = parent / (f"{level}-{stamp}" if attempt == 1 else f"{level}-{stamp}-{attempt}")
                try:
                    path.mkdir()  # atomic: fails if another run took the name first
                except FileExistsError:
                    continue
                run = cls(path)
                run.lock()
                return run
        except OSError as exc:
            raise UserError(f"cannot create a run directory under {parent}: {exc.strerror}") from None
        raise UserError(f"cannot find a free run directory name under {parent}")

    def write_config(self, config_dict: dict[str, Any], level: str) -> None:
        """Write the resolved config (every key, defaults included, as the run used it) and the run's identity."""
        identity = {"level": level, "task": config_dict["task"], "config": config_dict}
        try:
            atomic_write(self.path / IDENTITY_FILE, json.dumps(identity, indent=1, ensure_ascii=False) + "\n")
            atomic_write(self.path / "config.yaml", yaml.safe_dump(config_dict, sort_keys=False, allow_unicode=True))
        except OSError as exc:
            raise UserError(f"cannot write the config of run {self.path} ({exc.strerror})") from None

    def identity(self) -> dict[str, Any]:
        """run.json: the level, task and config the run was started with (checked: it may be damaged)."""
        where = self.path / IDENTITY_FILE
        if not where.exists() and not where.is_symlink():
            raise UserError(f"--resume {self.path}: no {IDENTITY_FILE} in it (not a run directory, or one written by "
                            f"an older version, which cannot be resumed safely); start a new run")
        try:
            identity = read_json(where, limit=IDENTITY_LIMIT)
        except DamagedState as problem:
            raise UserError(f"{where}: unreadable ({problem})") from None
        try:
            return checked_identity(identity)
        except DamagedState:
            raise UserError(f"{where}: damaged (expected level, task and config)") from None

    def check_own_files(self) -> None:
        """Everything in a run folder must be its own plain files and folders: a symbolic link would send the
        resumed run's writes elsewhere (another run, any file), a pipe or a device would hang its reads."""
        folders = [(self.path, 0)]
        while folders:  # not os.walk: it recurses, and a folder nested thousands deep would exhaust the stack
            folder, depth = folders.pop()
            for entry in os.scandir(folder):
                kind = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(kind) and depth >= 8:  # ours nest three deep; removing a deep one would crash
                    raise UserError(f"--resume {self.path}: {shown(entry.path, 300)[1:-1]} is nested deeper than a "
                                    f"run folder's own folders")
                if stat.S_ISDIR(kind):
                    folders.append((Path(entry.path), depth + 1))
                elif not stat.S_ISREG(kind):
                    what = "a symbolic link" if stat.S_ISLNK(kind) else "not a regular file"
                    raise UserError(f"--resume {self.path}: {shown(entry.path, 300)[1:-1]} is {what}; a run folder "
                                    f"may only hold its own files")

    def lock(self) -> None:
        """Hold this run's lock until the process ends (or `unlock`); another holder is a user error."""
        try:
            import fcntl
        except ImportError:  # Windows: runs are not locked there
            return
        try:  # O_NOFOLLOW: a .lock planted as a link to some other file must not have that file written
            descriptor = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise UserError(f"cannot lock run {self.path}: {self.path / '.lock'}: {exc.strerror}") from None
        handle = os.fdopen(descriptor, "r+", encoding="utf-8")
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_nlink > 1:  # a hard link shares the file with another name
            handle.close()
            raise UserError(f"cannot lock run {self.path}: {self.path / '.lock'} is not a file of its own")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read(20).strip() or "unknown"
            handle.close()
            raise UserError(f"{self.path} is in use by another process (pid {shown(holder)[1:-1]}); let it finish "
                            f"or stop it, then try again") from None
        except OSError:  # a file system without locks (some network shares): go on unlocked
            handle.close()
            return
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle

    def unlock(self) -> None:
        """Release the lock and remove its file: a stale .lock is taken over safely, so nothing needs it left."""
        if self._lock is not None:
            (self.path / ".lock").unlink(missing_ok=True)
            self._lock.close()  # closing the file releases the lock
            self._lock = None

    def append_metrics(self, row: dict[str, Any]) -> None:
        """Add one evaluation's row to metrics.csv; the header comes from the first row."""
        _append_row(self.metrics_file, row, METRICS_FIRST_COLUMNS + [k for k in row if k not in METRICS_FIRST_COLUMNS])

    def append_train_log(self, row: dict[str, Any]) -> None:
        """Add one row to train_log.csv: the mean training loss of the steps since the last row, the learning
        rate, the gradient norm where the level clips it (empty otherwise)."""
        _append_row(self.train_log_file, row, TRAIN_LOG_COLUMNS)

    def write_results(self, results: dict[str, Any]) -> None:
        """results.json; a metric that is not a finite number (a loss of NaN) is written as null, so the file
        stays valid JSON for every reader."""
        atomic_write(self.path / RESULTS_FILE, json.dumps(_finite_or_null(results), indent=2, ensure_ascii=False,
                                                           allow_nan=False) + "\n")

    def write_csv(self, file_name: str, columns: dict[str, list]) -> None:
        """Write a CSV file from named columns of equal length (predictions.csv, per_label.csv)."""
        atomic_write(self.path / file_name, columns_csv_text(columns))


def flat_config(nested: dict) -> dict:
    """The config flattened, lists and null as text, as trackers want scalars."""
    return {key: value if isinstance(value, (int, float, str, bool)) else str(value)
            for key, value in flatten(nested).items()}


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


def _finite_or_null(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _finite_or_null(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _append_row(path: Path, row: dict[str, Any], columns: list[str]) -> None:
    """Append `row` to the CSV file `path`, under its existing header, or under `columns` in a new file."""
    try:
        new_file = not path.exists() or path.stat().st_size == 0
        if not new_file:
            with open(path, newline="", encoding="utf-8") as existing:
                columns = next(csv.reader(existing))
        with open(path, "w" if new_file else "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow({k: _format(row.get(k)) for k in columns})
    except OSError as exc:
        raise UserError(f"cannot write {path} ({exc.strerror or exc})") from None


def _format(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else value
