"""What the web page shows beside the text box: the model's task, kind, labels and metrics.

Read from the files a run leaves, not from the model card's wording (the card may be rewritten): the labels
and their thresholds from the loaded model's config.json (via `Predictor`), the task name from the run's
run.json and the metrics from its results.json, both beside the model folder (RUN_DIR/model/..). The folder
may come from a stranger, so every file is optional and read defensively: a missing or damaged one leaves
its part out and says so, and every name is escaped before it goes into Markdown.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from koelectra_cookbook.files.safe_json import DamagedState, read_json

MAX_METRICS = 20  # a results.json from elsewhere could hold thousands of keys; the page shows the first ones
SPLIT_TITLES = {"eval": "evaluation file", "dev": "dev split (held out from train; optimistic)"}


def summary_markdown(model_dir: Path, label_names: list[str], thresholds, multi_label: bool,
                     regression: bool = False, sentence_pair: bool = False, long_text=None) -> str:
    """The Markdown shown beside the text box. A regression model has no labels to list (its one output is the
    score); a sentence-pair model says that it reads two texts; `long_text` (the Predictor's) how a text longer
    than the model's window is read."""
    model_dir = Path(model_dir)
    run_dir = model_dir.parent if model_dir.name == "model" else None  # only a run's layout has its files there
    if regression:
        kind = "regression: one predicted score, a number (no classes)"
    elif multi_label:
        kind = "multi-label: one sigmoid per label, a label is predicted at or above its threshold"
    else:
        kind = "single-label: the probabilities sum to 1"
    lines = ["### Model", "", f"**task**: {escape(run_task(run_dir) or 'unknown (no run.json beside the model)')}",
             "", f"**kind**: {kind}", ""]
    if sentence_pair:
        lines += ["**input**: a sentence pair, the first and the second text read together", ""]
    if long_text is not None and not sentence_pair:
        how = {"truncate": f"the first {long_text.max_seq_len} tokens are read",
               "head_tail": f"its first {long_text.head_tokens} and last tokens are read, {long_text.max_seq_len} "
                            f"in all",
               "windows": f"read whole, in windows of {long_text.max_seq_len} tokens, one answer from the "
                          f"{long_text.combine} of theirs"}[long_text.mode]
        lines += [f"**a longer text**: {how} (as the model was trained)", ""]
    if not regression:
        lines += ["**labels**:", ""]
        for index, name in enumerate(label_names):
            threshold = f" (threshold {thresholds[index]:.3f})" if multi_label else ""
            lines.append(f"- {index}: {escape(name)}{threshold}")
        lines.append("")
    lines += metrics_lines(run_dir)
    return "\n".join(lines)


def run_task(run_dir: Path | None) -> str | None:
    """The task name in run.json (written when the run started), or None when it is missing or damaged."""
    if run_dir is None:
        return None
    try:
        identity = read_json(run_dir / "run.json", limit=2**20)
    except DamagedState:
        return None
    task = identity.get("task") if isinstance(identity, dict) else None
    return task[:100] if isinstance(task, str) else None


def metrics_lines(run_dir: Path | None) -> list[str]:
    """A Markdown table of results.json's evaluation and dev metrics, or a line saying why there is none."""
    if run_dir is None:
        return ["**metrics**: not shown (the model folder is not inside a run folder with a results.json)"]
    try:
        results = read_json(run_dir / "results.json", limit=2**20)
    except DamagedState as exc:
        return [f"**metrics**: not shown ({escape(str(exc))})"]
    if not isinstance(results, dict):
        return ["**metrics**: not shown (results.json is not an object)"]
    rows = []
    for split, title in SPLIT_TITLES.items():
        metrics = results.get(split)
        if not isinstance(metrics, dict):
            continue
        for name, value in list(metrics.items())[:MAX_METRICS]:
            rows.append(f"| {escape(title)} | {escape(str(name)[:40])} | {number_text(value)} |")
    if not rows:
        return ["**metrics**: not shown (results.json holds no eval or dev metrics)"]
    lines = ["**metrics** (from results.json; report the evaluation file's):", "", "| set | metric | value |",
             "|---|---|---|", *rows]
    best_step = results.get("best_step")
    if isinstance(best_step, int) and not isinstance(best_step, bool):
        lines += ["", f"best step: {best_step}"]
    return lines


def number_text(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    return f"{value:.4f}" if math.isfinite(value) else "n/a"


def escape(text: str) -> str:
    """`text` shown literally in Markdown: a label named `**a**` or `<img ...>` is displayed, not rendered.
    Line breaks become spaces, so one name cannot start a new Markdown block."""
    text = " ".join(text.split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~])", r"\\\1", text)
