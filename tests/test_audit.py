"""audit.py and data.exclude: duplicates, leaks and label issues are found and named by file and line; a run
warns of its leaks; the rows a person confirms are left out of training; the folds resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from koelectra_cookbook.commands.audit import main as audit_main
from koelectra_cookbook.commands.train import parse_args
from koelectra_cookbook.classifier.loading import load_tokenizer
from koelectra_cookbook.config.resolve import resolve_config
from koelectra_cookbook.data.dataset import load_task_data
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.quality.label_issues import assign_folds, check_probabilities, find_issues

TRAIN = """text,label
재밌어요,1
재밌어요!!,1
최악이다,0
최악이다,0
지루해,0
지루해,1
정말 좋았다,1
별로였다,0
"""
EVAL = """text,label
최악이다,0
지루해,1
재밌어요 ,0
새로운 문장,1
"""


def write_config(tmp_path: Path, model: Path, **data) -> Path:
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "train.csv").write_text(TRAIN, encoding="utf-8")
    (tmp_path / "data" / "eval.csv").write_text(EVAL, encoding="utf-8")
    config = {"task": "mine", "model": {"name_or_path": str(model)},
              "data": {"dir": str(tmp_path / "data"), "train_file": "train.csv", "eval_file": "eval.csv",
                       "cache_dir": str(tmp_path / "cache"), "dev_split": 0, **data}, "train": {"epochs": 1}}
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_duplicates_conflicts_and_leaks_are_named_by_file_and_line(tmp_path, tiny_model_dir, capsys):
    config = write_config(tmp_path, tiny_model_dir)
    assert audit_main(["--config", str(config), "--output-dir", str(tmp_path / "out"), "--checks", "duplicates"]) == 0
    out = capsys.readouterr().out
    folder = Path(out.strip().splitlines()[-1].removeprefix("run: "))
    assert folder.parent == tmp_path / "out" / "mine" and folder.name.startswith("audit-")
    summary = json.loads((folder / "audit.json").read_text())
    assert summary["duplicates"] == {"training_rows": 8, "exact_duplicate_rows": 2, "near_duplicate_rows": 3,
                                     "groups": 3, "near_only_groups": 1, "texts_with_different_labels": 1,
                                     "rows_with_different_labels": 2}
    assert summary["leaks"] == {"evaluation_rows": 4, "evaluation_rows_in_training": 3,
                                "of_them_with_another_label": 1, "evaluation_rows_near_training": 0}
    duplicates = rows(folder / "duplicates.csv")
    assert [(r["line"], r["text"], r["labels_differ"], r["kind"]) for r in duplicates[:2]] == [
        ("6", "지루해", "yes", "exact"), ("7", "지루해", "yes", "exact")]  # the conflict comes first
    assert {(r["line"], r["kind"]) for r in duplicates[2:]} == {("2", "near"), ("3", "near"), ("4", "exact"),
                                                                 ("5", "exact")}
    leaks = rows(folder / "leaks.csv")
    # "재밌어요 " is "재밌어요" as the model reads it: an exact leak, with another label than its training copy
    assert {(r["line"], r["eval_line"], r["same_label"]) for r in leaks} == {
        ("4", "2", "yes"), ("5", "2", "yes"), ("6", "3", "no"), ("7", "3", "yes"), ("2", "4", "no")}
    report = (folder / "report.md").read_text()
    assert "## Duplicates and leaks" in report and "| evaluation rows whose text stands in the training rows | 3" in report


def test_a_run_warns_of_its_leaks_and_trains_without_the_rows_a_list_names(tmp_path, tiny_model_dir, capsys):
    tokenizer = load_tokenizer(str(tiny_model_dir))
    plain = resolve_config(parse_args("", ["--config", str(write_config(tmp_path, tiny_model_dir))], False))
    data = load_task_data(plain, tokenizer)
    assert any(note.startswith("warning: 3 of 4 evaluation texts (75.0%) also stand in the training rows (1 of them "
                               "with another label)") for note in data.notes)
    listed = tmp_path / "confirmed.csv"  # the leaks' training copies, as leaks.csv names them (other columns too)
    listed.write_text("kind,file,line,text,label\nexact,train.csv,4,최악이다,0\nexact,train.csv,5,최악이다,0\n"
                      "exact,train.csv,6,지루해,0\nexact,train.csv,7,지루해,1\nexact,train.csv,2,재밌어요,1\n",
                      encoding="utf-8")
    config = resolve_config(parse_args("", ["--config", str(write_config(tmp_path, tiny_model_dir,
                                                                          exclude=str(listed)))], False))
    data = load_task_data(config, tokenizer)
    assert data.train.texts == ["재밌어요!!", "정말 좋았다", "별로였다"]
    assert "train: 5 rows excluded (data.exclude: confirmed.csv)" in data.notes
    assert not any(note.startswith("warning:") for note in data.notes)
    assert [data.eval.texts, data.eval.labels.tolist()] == [["최악이다", "지루해", "재밌어요", "새로운 문장"], [0, 1, 0, 1]]


def test_folds_keep_copies_together_and_spread_the_labels():
    labels = np.array([0, 1] * 50)
    groups = [f"text {i // 4}" for i in range(100)]  # copies of one text: 4 rows, 2 of each label
    fold_of = assign_folds(labels, groups, 5, seed=1, label_names=["0", "1"])
    for group in set(groups):
        assert len({fold_of[i] for i, g in enumerate(groups) if g == group}) == 1
    assert all(abs(np.mean(labels[fold_of == fold]) - 0.5) < 0.15 for fold in range(5))
    with pytest.raises(UserError, match="fold [12] would train without any row of label '1'"):
        assign_folds(np.array([0, 0, 0, 1, 1, 0]), ["a", "b", "c", "d", "d", "e"], 2, 0, ["0", "1"])


def test_cleanlab_flags_the_rows_whose_label_the_probabilities_argue_against():
    random = np.random.default_rng(0)
    truth = random.integers(0, 3, 600)
    probabilities = np.full((600, 3), 0.05)
    probabilities[np.arange(600), truth] = 0.9
    given = truth.copy()
    flipped = random.choice(600, 30, replace=False)
    given[flipped] = (truth[flipped] + 1) % 3
    ranked, quality = find_issues(given, probabilities)
    assert set(ranked.tolist()) == set(flipped.tolist()) and quality[flipped].max() < quality.min() + 0.1
    multi = np.stack([given == 0, given == 1], axis=1).astype(float)
    ranked, _ = find_issues(multi, probabilities[:, :2] / probabilities[:, :2].sum(1, keepdims=True))
    assert len(ranked) > 0
    with pytest.raises(UserError, match="sum to 1"):
        check_probabilities(probabilities * 2 / 3, 600, 3, False, "fold")
    with pytest.raises(UserError, match="finite numbers in"):
        check_probabilities(np.full((600, 3), np.nan), 600, 3, False, "fold")


def test_label_issues_from_folds_that_resume_and_a_damaged_fold_is_refused(tmp_path, capsys):
    argv = ["--task", "nsmc", "--demo", "--output-dir", str(tmp_path / "out"), "--folds", "2",
            "--set", "train.epochs=1", "--set", "train.es_patience=null"]
    assert audit_main(argv) == 0
    folder = Path(capsys.readouterr().out.strip().splitlines()[-1].removeprefix("run: "))
    issues = rows(folder / "label_issues.csv")
    assert issues and [int(r["rank"]) for r in issues] == list(range(1, len(issues) + 1))
    source = (Path(__file__).parents[1] / "data" / "samples" / "nsmc" / "ratings_train.txt").read_text().splitlines()
    for issue in issues[:5]:  # file and line lead to the row, as data.exclude will check
        assert source[int(issue["line"]) - 1].split("\t")[1] == issue["text"]
        assert issue["suggested_label"] != issue["given_label"] or float(issue["given_label_probability"]) >= 0.5
    assert not list((folder / "folds").rglob("model.safetensors"))  # only the probabilities stay
    summary = json.loads((folder / "audit.json").read_text())["label_issues"]
    assert summary["rows"] == 300 and summary["flagged"] == len(issues)
    assert (folder / "plots" / "label_issues.png").is_file()
    first = (folder / "folds" / "fold-1.csv").read_bytes()
    (folder / "folds" / "fold-2.csv").unlink()
    assert audit_main(["--resume", str(folder), "--folds", "2"]) == 0
    out = capsys.readouterr().out
    assert "fold 2 of 2: training" in out and "fold 1 of 2" not in out
    assert (folder / "folds" / "fold-1.csv").read_bytes() == first
    assert audit_main(["--resume", str(folder), "--folds", "3"]) == 2
    assert "--folds 3: this audit was started with --folds 2" in capsys.readouterr().err
    (folder / "folds" / "fold-1.csv").write_text("row,negative,positive\n0,abc,1\n")
    assert audit_main(["--resume", str(folder), "--folds", "2"]) == 2
    assert capsys.readouterr().err.strip().startswith(f"error: {folder / 'folds' / 'fold-1.csv'}: damaged")
