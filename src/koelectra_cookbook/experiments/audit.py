"""audit.py: check a task's training data before trusting a model trained on it.

    audit folder <output-dir>/<task>/audit-<YYYYmmdd-HHMMSS>/
      duplicates.csv    training rows that share a text (exactly or nearly), conflicts (two labels) first
      leaks.csv         evaluation rows whose text stands in the training rows, one row per training copy
      label_issues.csv  cleanlab's suspects, most suspect first, with the label the models suggest
      audit.json        the counts; report.md with plots/ for a person
      folds/            one training run per fold, and fold-<i>.csv: its held-out rows' probabilities

Label issues take k trainings (--folds): fold i's model, of the chosen level and recipe, learns from every row
outside fold i (through data.exclude, the same path a user's own list takes) and scores the rows of fold i. A fold
whose probabilities are saved is done: `--resume AUDIT_DIR` runs only the folds still missing.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np

from koelectra_cookbook.config.levels import LEVELS, check_level, import_trainer
from koelectra_cookbook.config.resolve import complete_config, resolve_config
from koelectra_cookbook.config.schema import Config, build_config
from koelectra_cookbook.data.dataset import NamedRows, read_named_rows
from koelectra_cookbook.data.overlap import exact_key, keys
from koelectra_cookbook.data.preflight import check_inputs
from koelectra_cookbook.data.raw_files import Sources
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.experiments.audit_report import write_report
from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.files.safe_json import DamagedState, read_json
from koelectra_cookbook.files.tables import columns_csv_text, csv_text
from koelectra_cookbook.inference.predictor import Predictor
from koelectra_cookbook.quality.duplicates import find_duplicates, find_leaks, shown_label
from koelectra_cookbook.quality.label_issues import assign_folds, check_probabilities, find_issues
from koelectra_cookbook.runs.directory import RunDirectory
from koelectra_cookbook.runs.resume import load_resume_config

CHECKS = ("duplicates", "labels")
SETTINGS_FILE = "audit_settings.json"  # the folds and level the audit was started with: a resume must keep them


def run_audit(args: argparse.Namespace) -> Path:
    """The checks of commands/audit.py's arguments, into a new audit folder (or the one --resume names)."""
    checks = parse_checks(args.checks)
    if "labels" in checks and importlib.util.find_spec("cleanlab") is None:
        raise UserError('label issues need cleanlab: pip install -e ".[audit]" (or --checks duplicates)')
    if args.resume is not None:
        config = load_resume_config(args.resume, "audit")
        folder = RunDirectory(args.resume)
    else:
        config = resolve_config(args)
    level = LEVELS[args.level or ("multi-label" if config.data.multi_label else "expert")]
    check_level(level, config)
    check_inputs(config, writes=True, model="labels" in checks)
    every_row, chosen, evaluation, sources, notes = read_named_rows(config)
    train = every_row.subset(chosen)
    regression = sources.regression
    settings = {"folds": args.folds, "level": level.name}
    if args.resume is None:
        folder = RunDirectory.create_in(args.output_dir / config.task, "audit")
        folder.write_config(config.to_dict(), "audit")
        atomic_write(folder.path / SETTINGS_FILE, json.dumps(settings) + "\n")
    else:
        folder.lock()
    try:
        check_same_settings(folder.path, settings)
        for note in notes:
            print(f"  {note}")
        summary = {"task": config.task, "level": level.name, "label_names": sources.label_names}
        if "duplicates" in checks:
            summary.update(check_duplicates(folder.path, train, evaluation, sources.label_names, regression))
        if "labels" in checks and regression:
            print("label issues: not for a regression task (cleanlab's methods are for classes); duplicates and "
                  "leaks only")
        elif "labels" in checks:
            probabilities = out_of_fold(config, level, every_row, chosen, sources, folder.path, args)
            summary["label_issues"] = write_label_issues(folder.path, train, probabilities, sources.label_names)
        atomic_write(folder.path / "audit.json", json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
        write_report(folder.path, summary)
        return folder.path
    finally:
        folder.unlock()


def check_same_settings(folder: Path, settings: dict) -> None:
    """A resumed audit trains its missing folds as the first ones were trained: same --folds, same --level."""
    try:
        started = read_json(folder / SETTINGS_FILE, limit=4096)
        if not isinstance(started, dict):
            raise DamagedState("not an object")
    except DamagedState as problem:
        raise UserError(f"{folder / SETTINGS_FILE}: damaged ({problem})") from None
    for key, value in settings.items():
        if started.get(key) != value:
            raise UserError(f"--{key} {value}: this audit was started with --{key} {shown(started.get(key))}; give "
                            f"that, or start a new audit")


def parse_checks(text: str) -> list[str]:
    checks = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in checks if name not in CHECKS]
    if unknown or not checks:
        raise UserError(f"--checks {text}: must list {' and/or '.join(CHECKS)}, comma-separated")
    return checks


def check_duplicates(folder: Path, train: NamedRows, evaluation: NamedRows, label_names: list[str],
                     regression: bool) -> dict:
    """duplicates.csv and leaks.csv, and their counts (printed and returned for audit.json)."""
    columns, duplicates = find_duplicates(train, label_names, regression)
    atomic_write(folder / "duplicates.csv", columns_csv_text(columns))
    columns, leaks = find_leaks(train, evaluation, label_names, regression)
    atomic_write(folder / "leaks.csv", columns_csv_text(columns))
    print(f"duplicates: {duplicates['exact_duplicate_rows']} of {duplicates['training_rows']} training rows repeat "
          f"an earlier text exactly ({duplicates['near_duplicate_rows']} nearly); "
          f"{duplicates['texts_with_different_labels']} texts carry different labels "
          f"({duplicates['rows_with_different_labels']} rows)")
    print(f"leaks: {leaks['evaluation_rows_in_training']} of {leaks['evaluation_rows']} evaluation rows stand in the "
          f"training rows ({leaks['of_them_with_another_label']} of them with another label); "
          f"{leaks['evaluation_rows_near_training']} more nearly")
    return {"duplicates": duplicates, "leaks": leaks}


def out_of_fold(config: Config, level, every_row: NamedRows, chosen: np.ndarray, sources: Sources, folder: Path,
                args: argparse.Namespace) -> np.ndarray:
    """Every chosen training row's probabilities from the fold model that did not learn it (folds already saved
    in `folder` are read back, not trained again)."""
    labels = every_row.labels[chosen]
    groups = keys([every_row.texts[i] for i in chosen],
                  None if every_row.pairs is None else [every_row.pairs[i] for i in chosen], exact_key)
    label_names = sources.label_names
    fold_of = assign_folds(labels, groups, args.folds, config.train.seed, label_names)
    multi_label = labels.ndim == 2
    probabilities = np.full((len(chosen), len(label_names)), np.nan)
    left_out = np.setdiff1d(np.arange(len(every_row.texts)), chosen)  # rows data.max_train_samples left out
    (folder / "folds").mkdir(exist_ok=True)
    for fold in range(args.folds):
        held_out = np.flatnonzero(fold_of == fold)
        saved = folder / "folds" / f"fold-{fold + 1}.csv"
        if not saved.is_file():
            print(f"fold {fold + 1} of {args.folds}: training on {len(chosen) - len(held_out)} rows, scoring "
                  f"{len(held_out)}")
            run_dir = train_fold(config, level, every_row, np.concatenate([left_out, chosen[held_out]]), folder,
                                 fold, sources)
            scores = predict_rows(run_dir / "model", every_row.subset(chosen[held_out]))
            atomic_write(saved, csv_text(["row", *label_names],
                                         ([int(row), *(f"{p:.6f}" for p in values)]
                                          for row, values in zip(held_out, scores))))
            if not args.keep_fold_models:  # the probabilities are what the audit needs; a model is 400 MB
                for part in ("model", "checkpoints"):
                    shutil.rmtree(run_dir / part, ignore_errors=True)
        probabilities[held_out] = read_fold(saved, held_out, label_names)
    check_probabilities(probabilities, len(chosen), len(label_names), multi_label, str(folder / "folds"))
    return probabilities


def train_fold(config: Config, level, every_row: NamedRows, excluded: np.ndarray, folder: Path, fold: int,
               sources: Sources) -> Path:
    """One fold's training run, in folder/folds/: the config as given, less the excluded rows (data.exclude,
    a CSV written beside it), with the label set pinned so that every fold's model has the same outputs."""
    exclude_file = folder / "folds" / f"fold-{fold + 1}-exclude.csv"
    atomic_write(exclude_file, columns_csv_text({"file": [every_row.files[i] for i in excluded],
                                                 "line": [int(every_row.lines[i]) for i in excluded],
                                                 "text": [every_row.texts[i] for i in excluded]}))
    changes = {"data": {"exclude": str(exclude_file), "max_train_samples": None}}
    if not config.data.label_columns:
        changes["data"].update(labels=sources.label_values, label_names=sources.label_names)
    fold_config = complete_config(build_config([("audit", config.to_dict()), (f"fold {fold + 1}", changes)]),
                                  f"fold {fold + 1}")
    trainer = import_trainer(level)(fold_config, output_dir=folder / "folds")
    return trainer.run()


def predict_rows(model_dir: Path, rows: NamedRows) -> np.ndarray:
    """The saved fold model's probabilities for `rows` (calibrated, as the model gives them)."""
    return Predictor(model_dir).probabilities(rows.texts, rows.pairs)


def read_fold(path: Path, held_out: np.ndarray, label_names: list[str]) -> np.ndarray:
    """A fold's saved probabilities, checked: its rows must be the fold's (a changed --folds or a damaged file
    is refused, not mixed in)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        if rows[0] != ["row", *label_names]:
            raise DamagedState("its header names other labels")
        order = np.array([int(row[0]) for row in rows[1:]], dtype=np.int64)
        values = np.array([[float(value) for value in row[1:]] for row in rows[1:]], dtype=np.float64)
    except (DamagedState, ValueError, IndexError, UnicodeDecodeError) as problem:
        raise UserError(f"{path}: damaged ({problem}); delete it to score that fold again") from None
    if not np.array_equal(order, held_out):
        raise UserError(f"{path}: holds other rows than fold {path.stem.split('-')[-1]} (was --folds or the data "
                        f"changed?); delete it to score that fold again")
    return values


def write_label_issues(folder: Path, train: NamedRows, probabilities: np.ndarray, label_names: list[str]) -> dict:
    """label_issues.csv (cleanlab's suspects, most suspect first) and the counts per label."""
    ranked, quality = find_issues(train.labels, probabilities)
    multi_label = train.labels.ndim == 2
    if multi_label:
        suggested = [shown_label(row >= 0.5, label_names, False) for row in probabilities[ranked]]
        given_probability = [float(np.mean(np.where(train.labels[i] > 0, probabilities[i], 1 - probabilities[i])))
                             for i in ranked]
    else:
        suggested = [label_names[int(i)] for i in probabilities[ranked].argmax(axis=1)]
        given_probability = [float(probabilities[i, int(train.labels[i])]) for i in ranked]
    columns = {"rank": list(range(1, len(ranked) + 1)), "file": [train.files[i] for i in ranked],
               "line": [int(train.lines[i]) for i in ranked], "text": [train.texts[i] for i in ranked],
               **({"text_pair": [train.pairs[i] for i in ranked]} if train.pairs is not None else {}),
               "given_label": [shown_label(train.labels[i], label_names, False) for i in ranked],
               "suggested_label": suggested,
               "given_label_probability": [f"{p:.4f}" for p in given_probability],
               "label_quality": [f"{quality[i]:.4f}" for i in ranked]}
    atomic_write(folder / "label_issues.csv", columns_csv_text(columns))
    flagged = np.zeros(len(train.texts), dtype=bool)
    flagged[ranked] = True
    per_label = {}
    for index, name in enumerate(label_names):
        has = train.labels[:, index] > 0 if multi_label else train.labels == index
        per_label[name] = {"rows": int(has.sum()), "flagged": int((flagged & has).sum())}
    share = len(ranked) / len(train.texts)
    print(f"label issues: {len(ranked)} of {len(train.texts)} training rows flagged ({share:.1%}); label_issues.csv "
          f"lists them, most suspect first")
    return {"rows": len(train.texts), "flagged": len(ranked), "per_label": per_label}
