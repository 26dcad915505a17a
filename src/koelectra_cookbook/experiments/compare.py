"""One table of many runs, sorted by the dev headline metric (compare.py: commands/compare.py).

A run directory is a folder holding run.json or config.yaml; the folders given are searched for them (a few
levels down, so a sweep's trials are found too). Each run's files may come from anyone, so each is read with a
size limit and checked; a run that cannot be read is one line saying why, never a traceback. Runs that differ
only in train.seed share a row: mean +- std over their seeds. The columns are the config keys that differ
between the rows, the dev and eval headline metric, the best step, the training time and speed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from koelectra_cookbook.classifier.names import is_minimized
from koelectra_cookbook.config.parsing import flatten, parse_yaml
from koelectra_cookbook.files.safe_json import DamagedState
from koelectra_cookbook.files.tables import cell
from koelectra_cookbook.runs.reader import IDENTITY_FILE, read_identity, read_results

MAX_DEPTH = 4  # <folder>/<task>/sweep-<study>/best/<run>
MAX_RUNS = 5000


@dataclass
class Run:
    path: Path
    level: str
    config: dict  # flat: {"train.learning_rate": 5e-5, ...}
    results: dict
    metric: str  # the headline metric: train.metrics[0]

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


def mean_std(values: list[float], digits: int = 4) -> str:
    """`0.8123 ± 0.0041` over several values (sample standard deviation), the value alone for one."""
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


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
    """A run's level, config and results, or DamagedState saying what is wrong."""
    if (path / IDENTITY_FILE).exists():
        identity = read_identity(path)
        level, config = identity["level"], identity["config"]
    else:  # a run written before run.json existed: the level is in the folder's name
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
    if not (path / "results.json").exists():
        raise DamagedState("no results.json (still running, interrupted, or failed)")
    results = read_results(path)
    flat = flatten(config)
    metrics = config.get("train", {}).get("metrics") if isinstance(config.get("train"), dict) else None
    metric = metrics[0] if isinstance(metrics, list) and metrics and isinstance(metrics[0], str) else "accuracy"
    return Run(path, cell(level), flat, results, cell(metric))


def group_runs(runs: list[Run]) -> list[Row]:
    """Runs with the same level, config except train.seed, and outcome (pruned or not) share a row."""
    rows: dict[tuple, Row] = {}
    for run in runs:
        key = (run.level, bool(run.results.get("pruned")),
               tuple(sorted((k, repr(v)) for k, v in run.config.items() if k != "train.seed")))
        rows.setdefault(key, Row()).runs.append(run)
    return list(rows.values())


def differing_keys(rows: list[Row]) -> list[str]:
    """The config keys (other than train.seed) whose values are not the same in every row."""
    keys = sorted({key for row in rows for key in row.runs[0].config if key != "train.seed"})
    return [key for key in keys if len({repr(row.runs[0].config.get(key)) for row in rows}) > 1]


def table(rows: list[Row], keys: list[str], base: Path | None) -> tuple[list[str], list[list[str]]]:
    """The header and the cells of the comparison, rows sorted by the dev headline metric (best first)."""
    metrics = {row.runs[0].metric for row in rows}
    one = metrics.pop() if len(metrics) == 1 else None
    header = ["level", *keys, "seeds", f"dev {one}" if one else "dev (metric)", f"eval {one}" if one else "eval",
              "best step", "train s", "samples/s", "run"]

    def best_first(row: Row) -> float:
        values = row.values("dev", row.runs[0].metric)
        if not values:
            return math.inf
        return statistics.mean(values) * (1 if is_minimized(row.runs[0].metric) else -1)

    cells = []
    for row in sorted(rows, key=best_first):
        first, metric = row.runs[0], row.runs[0].metric
        named = "" if one else f"{metric} "
        dev_text = mean_std(row.values("dev", metric))
        eval_text = mean_std(row.values("eval", metric)) or ("pruned" if first.results.get("pruned") else "")
        if first.results.get("pruned") and dev_text:
            dev_text += " (pruned)"
        steps = row.values("", "best_step")
        where = _relative(first.path, base)
        cells.append([first.level, *(cell(first.config.get(key)) for key in keys), str(len(row.runs)),
                      named + dev_text if dev_text else "", named + eval_text if eval_text else "",
                      "/".join(str(int(s)) for s in steps[:3]) + ("..." if len(steps) > 3 else ""),
                      mean_std(row.values("", "train_runtime_s"), 1), mean_std(row.values("", "train_samples_per_s"), 1),
                      where + (f" (+{len(row.runs) - 1})" if len(row.runs) > 1 else "")])
    return header, cells


def _relative(path: Path, base: Path | None) -> str:
    try:
        return cell(str(path.relative_to(base)), 300) if base is not None else cell(str(path), 300)
    except ValueError:
        return cell(str(path), 300)


def markdown(header: list[str], cells: list[list[str]]) -> str:
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join(lines)
