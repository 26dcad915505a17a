"""report.md: what audit.py found, for a person to read (with plots/label_issues.png), and what to do about it."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib.pyplot as plt

from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.files.tables import cell
from koelectra_cookbook.runs.plots import _save, korean_text

SHOWN_ROWS = 15  # rows of each CSV quoted in the report; the CSVs hold them all


def write_report(folder: Path, summary: dict) -> None:
    lines = [f"# Data audit: {summary['task']}", ""]
    if "duplicates" in summary:
        duplicates, leaks = summary["duplicates"], summary["leaks"]
        lines += ["## Duplicates and leaks", "",
                  "| what | rows |", "|---|---|",
                  f"| training rows | {duplicates['training_rows']} |",
                  f"| repeating an earlier text exactly | {duplicates['exact_duplicate_rows']} |",
                  f"| repeating one nearly (case, punctuation, spaces, repeated characters aside) | "
                  f"{duplicates['near_duplicate_rows']} |",
                  f"| texts carrying different labels | {duplicates['texts_with_different_labels']} "
                  f"({duplicates['rows_with_different_labels']} rows) |",
                  f"| evaluation rows | {leaks['evaluation_rows']} |",
                  f"| evaluation rows whose text stands in the training rows | "
                  f"{leaks['evaluation_rows_in_training']} ({leaks['of_them_with_another_label']} with another "
                  f"label) |",
                  f"| evaluation rows near a training text | {leaks['evaluation_rows_near_training']} |", "",
                  "A leaked evaluation row is scored by a model that has read it: the reported score counts memory. "
                  "Training without the copies (`--set data.exclude=leaks.csv`) makes the score honest again; so "
                  "does leaving the rows out of the evaluation file.", "",
                  *quoted(folder / "duplicates.csv", ("group", "kind", "labels_differ", "line", "text", "label"),
                          "duplicates.csv, first rows (groups whose labels differ come first)"),
                  *quoted(folder / "leaks.csv", ("kind", "line", "text", "label", "eval_line", "eval_label"),
                          "leaks.csv, first rows")]
    issues = summary.get("label_issues")
    if issues:
        plot_issues(issues["per_label"], folder / "plots", summary["task"])
        lines += ["## Label issues", "",
                  f"cleanlab flagged {issues['flagged']} of {issues['rows']} training rows "
                  f"({issues['flagged'] / max(issues['rows'], 1):.1%}), each scored by a model of the "
                  f"{summary['level']} level that never trained on it.", "",
                  "| label | rows | flagged |", "|---|---|---|",
                  *(f"| {cell(name)} | {count['rows']} | {count['flagged']} |"
                    for name, count in issues["per_label"].items()), "",
                  "![flagged rows per label](plots/label_issues.png)", "",
                  "A flagged row is a suspect, not a verdict: read it, keep the rows you confirm as wrong in a copy "
                  "of label_issues.csv (or fix their labels in the data), and train with "
                  "`--set data.exclude=<that copy>`.", "",
                  *quoted(folder / "label_issues.csv", ("rank", "line", "text", "given_label", "suggested_label",
                                                         "given_label_probability"),
                          "label_issues.csv, most suspect first")]
    atomic_write(folder / "report.md", "\n".join(lines) + "\n")


def quoted(path: Path, columns: tuple[str, ...], title: str) -> list[str]:
    """The first rows of one of the audit's CSVs as a Markdown table (cells cut and made safe to show)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [row for _, row in zip(range(SHOWN_ROWS), csv.DictReader(handle))]
    if not rows:
        return [f"{title}: none.", ""]
    return [f"{title}:", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(cell(row.get(name, ""), 60) for name in columns) + " |" for row in rows), ""]


def plot_issues(per_label: dict, out_dir: Path, task: str) -> Path:
    """plots/label_issues.png: the share of each label's rows that cleanlab flagged."""
    names = list(per_label)
    shares = [per_label[name]["flagged"] / max(per_label[name]["rows"], 1) for name in names]
    with korean_text():
        fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(names) + 2), 4))
        ax.bar(range(len(names)), shares, color="tab:red", alpha=0.7)
        ax.set_xticks(range(len(names)), labels=names, rotation=45 if len(names) > 4 else 0, ha="right")
        ax.set_ylabel("share of the label's rows flagged")
        ax.set_title(f"{task}: label issues per given label")
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        return _save(fig, out_dir, "label_issues")
