"""Tables of many runs, one per task, each sorted by its dev headline metric (compare.py: commands/compare.py).

A run directory is a folder holding run.json or config.yaml; the folders given are searched for them (a few
levels down, so a sweep's trials are found too). Each run's files may come from anyone, so each is read with a
size limit and checked; a run that cannot be read is one line saying why, never a traceback.

Runs of different tasks are never ranked together: `sections` splits the rows by task (and, in the rare case
that runs of one task share no headline metric, by metric). Runs that differ only in train.seed, or in keys
that do not change results (NOT_COMPARED), share a row: mean +- std over their seeds. The columns are the
config keys that differ between the rows of a section, the dev and eval headline metric, the best step, the
training time and speed. Fitting the table to a terminal is compare_outputs.py's part.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from koelectra_cookbook.classifier.names import is_minimized
from koelectra_cookbook.config.parsing import flatten, parse_yaml
from koelectra_cookbook.files.safe_json import DamagedState
from koelectra_cookbook.files.tables import cell
from koelectra_cookbook.runs.reader import IDENTITY_FILE, read_identity, read_results

MAX_DEPTH = 4  # <folder>/<task>/sweep-<study>/best/<run>
MAX_RUNS = 5000
FULL = 300  # the longest a value is shown (--wide, --csv): enough for a path, bounded for untrusted files

# Config keys that decide how a run is carried out, shown or stored, but not the numbers it ends with. Runs that
# differ only in these (and train.seed) share a row, they are never a column, and a line under the table names
# those that differ. Every key not listed is taken to change results, so a new key is compared until added here.
NOT_COMPARED = {
    "data.download": "the files are fetched once and verified: the same bytes whichever way they arrived",
    "data.cache_dir": "token ids are the same wherever they are cached",
    "data.label_names": "readable names for the labels; the label ids, the loss and the metrics are the same",
    "model.license": "a line on the model card",
    "train.log_every": "how often the loss is printed and checked for NaN; the training is the same",
    "train.report_to": "which experiment trackers are told",
    "train.num_threads": "CPU threads: samples/s changes (the line under the table says so), the numbers only "
                         "at rounding level",
    "train.eval_batch_size": "evaluation batches are padded per batch and masked: the same predictions",
    "train.save_total_limit": "how many checkpoints stay on disk while training",
    "train.keep_checkpoints": "which checkpoints stay on disk after the run",
    "train.metrics": "which metrics are computed and reported; the one that chooses the model is "
                     "train.es_metric (compared), and the headline one names the section",
}
# A data folder's location is not its content: data/nsmc here and /home/me/cookbook/data/nsmc on another machine
# hold the same files, data/samples/nsmc (the --demo rows) does not. Compared by the folder and its parent.
COMPARED_BY_FOLDER = ("data.dir",)
# The keys a reader looks for first, leftmost (and the last to be moved out of a narrow table); then A-Z.
FIRST_KEYS = ("model.name_or_path", "data.dir", "train.learning_rate", "train.batch_size", "train.epochs",
              "train.max_steps", "model.max_seq_len", "data.max_train_samples")


@dataclass
class Run:
    path: Path
    level: str
    config: dict  # flat: {"train.learning_rate": 5e-5, ...}
    results: dict
    metric: str  # the headline metric: train.metrics[0]
    task: str = ""

    def number(self, split: str, name: str) -> float | None:
        part = self.results.get(split) if split else self.results
        value = part.get(name) if isinstance(part, dict) else None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return float(value) if ok else None


@dataclass
class Row:
    runs: list[Run] = field(default_factory=list)

    def values(self, split: str, name: str) -> list[float]:
        return [v for v in (run.number(split, name) for run in self.runs) if v is not None]


@dataclass
class Section:
    """The rows of one task, ranked by one metric: one table."""
    task: str
    metric: str
    rows: list[Row]

    @property
    def title(self) -> str:
        return f"## {self.task} (dev {self.metric})"


def mean_std(values: list[float], digits: int = 4) -> str:
    """`0.8123 ± 0.0041` over several values (sample standard deviation), the value alone for one."""
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def mean(values: list[float]) -> str:
    """Time and speed: the mean alone (their spread is noise of the machine, and a column must stay narrow)."""
    return f"{statistics.mean(values):.1f}" if values else ""


def find_runs(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """Run directories at or under `paths` (symbolic links are not followed), and a line per path with none."""
    found, problems = [], []
    for top in paths:
        if not top.is_dir():
            problems.append(f"{cell(str(top), 300)}: not a folder")
            continue
        before = len(found)
        folders = [(top, 0)]
        while folders and len(found) < MAX_RUNS:
            folder, depth = folders.pop()
            if is_run(folder):
                found.append(folder)
                continue
            if depth < MAX_DEPTH:
                try:
                    children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
                except OSError as exc:
                    problems.append(f"{cell(str(folder), 300)}: unreadable ({exc.strerror})")
                    continue
                folders.extend((child, depth + 1) for child in reversed(children))
        if len(found) == before:
            problems.append(f"{cell(str(top), 300)}: no run directories in it")
    return list(dict.fromkeys(found)), problems


def is_run(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("run.json", "config.yaml"))


def read_run(path: Path) -> Run:
    """A run's level, task, config and results, or DamagedState saying what is wrong."""
    if (path / IDENTITY_FILE).exists():
        identity = read_identity(path)
        level, config, task = identity["level"], identity["config"], identity["task"]
    else:  # a run written before run.json existed: the level is in the folder's name, the task in its parent's
        config_file = path / "config.yaml"
        if config_file.is_symlink() or config_file.stat().st_size > 2**20:
            raise DamagedState("config.yaml is a link or larger than 1 MiB")
        try:
            config = parse_yaml(config_file.read_text(encoding="utf-8"))
        except Exception as exc:  # YAML, decoding and nesting errors alike: the file is damaged
            raise DamagedState(f"config.yaml is not readable YAML ({type(exc).__name__})") from None
        if not isinstance(config, dict):
            raise DamagedState("config.yaml is not a mapping")
        level = path.name.split("-")[0]
        task = config["task"] if isinstance(config.get("task"), str) else path.parent.name
    if not (path / "results.json").exists():
        raise DamagedState("no results.json (still running, interrupted, or failed)")
    results = read_results(path)
    flat = flatten(config)
    metrics = config.get("train", {}).get("metrics") if isinstance(config.get("train"), dict) else None
    metric = metrics[0] if isinstance(metrics, list) and metrics and isinstance(metrics[0], str) else "accuracy"
    dataset = flat.get("data.dataset")
    if isinstance(dataset, str) and dataset:  # runs of one task on another dataset are never ranked together
        subset = flat.get("data.dataset_config")
        task = f"{task or '?'} ({folder_name(dataset) if '/' in dataset else dataset}" \
               f"{f' {subset}' if isinstance(subset, str) and subset else ''})"
    return Run(path, cell(level), flat, results, cell(metric), cell(task or "?"))


def comparable(config: dict) -> dict:
    """The flat config as far as it bears on results: no train.seed, no NOT_COMPARED key, data.dir by folder."""
    return {key: folder_name(value) if key in COMPARED_BY_FOLDER else value for key, value in config.items()
            if key != "train.seed" and key not in NOT_COMPARED}


def folder_name(value) -> str:
    """`data/nsmc` for `/home/me/cookbook/data/nsmc/`, `../shared/data/nsmc` or `data\\nsmc` alike."""
    parts = PurePosixPath(str(value).replace("\\", "/")).parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else str(value)


def group_runs(runs: list[Run]) -> list[Row]:
    """Runs of the same task and level, the same outcome (pruned or not) and the same config as far as results
    go (`comparable`: seeds and NOT_COMPARED aside) share a row."""
    rows: dict[tuple, Row] = {}
    for run in runs:
        key = (run.task, run.level, bool(run.results.get("pruned")),
               tuple(sorted((k, repr(v)) for k, v in comparable(run.config).items())))
        rows.setdefault(key, Row()).runs.append(run)
    return list(rows.values())


def sections(rows: list[Row]) -> list[Section]:
    """The rows split by task (A-Z), each ranked by one metric: the headline most of its runs share. A row whose
    runs report none of the task's headlines (a run with its own train.metrics) gets a section of its own."""
    by_task: dict[str, list[Row]] = {}
    for row in rows:
        by_task.setdefault(row.runs[0].task, []).append(row)
    out = []
    for task in sorted(by_task):
        counts = Counter(run.metric for row in by_task[task] for run in row.runs)
        candidates = sorted(counts, key=lambda name: (-counts[name], name))
        by_metric: dict[str, list[Row]] = {}
        for row in by_task[task]:
            metric = next((name for name in candidates if row.values("dev", name) or row.values("eval", name)),
                          row.runs[0].metric)
            by_metric.setdefault(metric, []).append(row)
        out += [Section(task, metric, by_metric[metric]) for metric in candidates if metric in by_metric]
    return out


def differing_keys(rows: list[Row]) -> list[str]:
    """The config keys that change results (`comparable`) whose values are not the same in every row; the keys
    of FIRST_KEYS first, the others A-Z."""
    configs = [comparable(row.runs[0].config) for row in rows]
    keys = {key for config in configs for key in config}
    differing = [key for key in keys if len({repr(config.get(key)) for config in configs}) > 1]
    return sorted(differing, key=lambda key: (FIRST_KEYS.index(key) if key in FIRST_KEYS else len(FIRST_KEYS), key))


def uncompared_keys(rows: list[Row]) -> list[str]:
    """The keys whose values differ between the runs (seeds aside) but that are not columns, since the
    difference does not change results (NOT_COMPARED, or a data folder that only lies elsewhere)."""
    runs = [run for row in rows for run in row.runs]
    shown = set(differing_keys(rows))
    keys = sorted({key for run in runs for key in run.config} - shown - {"train.seed"})
    return [key for key in keys if len({repr(run.config.get(key)) for run in runs}) > 1]


def table(rows: list[Row], keys: list[str], base: Path | None,
          metric: str | None = None) -> tuple[list[str], list[list[str]]]:
    """The header and the cells of one section, in full, rows sorted by the dev `metric` (best first)."""
    metric = metric or Counter(row.runs[0].metric for row in rows).most_common(1)[0][0]
    header = ["level", *keys, "seeds", f"dev {metric}", f"eval {metric}", "best step", "train s", "samples/s",
              "run"]

    def best_first(row: Row) -> float:
        values = row.values("dev", metric)
        if not values:
            return math.inf
        return statistics.mean(values) * (1 if is_minimized(metric) else -1)

    cells = []
    for row in sorted(rows, key=best_first):
        first = row.runs[0]
        dev_text = mean_std(row.values("dev", metric))
        eval_text = mean_std(row.values("eval", metric)) or ("pruned" if first.results.get("pruned") else "")
        if first.results.get("pruned") and dev_text:
            dev_text += " (pruned)"
        steps = row.values("", "best_step")
        where = _relative(first.path, base)
        cells.append([first.level, *(cell(first.config.get(key), FULL) for key in keys), str(len(row.runs)),
                      dev_text, eval_text,
                      "/".join(str(int(s)) for s in steps[:3]) + ("..." if len(steps) > 3 else ""),
                      mean(row.values("", "train_runtime_s")), mean(row.values("", "train_samples_per_s")),
                      where + (f" (+{len(row.runs) - 1})" if len(row.runs) > 1 else "")])
    return header, cells


def _relative(path: Path, base: Path | None) -> str:
    try:
        return cell(str(path.resolve().relative_to(base.resolve())), FULL) if base is not None else cell(str(path), FULL)
    except ValueError:
        return cell(str(path), FULL)
