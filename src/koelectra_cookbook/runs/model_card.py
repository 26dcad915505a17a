"""model/README.md: the model card written with every saved model, so the folder can go to the Hub as it is.

It is built with huggingface_hub's ModelCard (the library the Hub reads cards with): YAML front matter with
`language`, `datasets`, `base_model` (when the base is a Hub id) and a `model-index` of the evaluation file's
metrics, then the text. Nothing in it names a local absolute path: a published folder must not publish its
owner's directory layout.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from koelectra_cookbook.config.schema import Config
from koelectra_cookbook.data.dataset import TaskData
from koelectra_cookbook.config.tasks import task_spec

PROJECT_URL = "https://github.com/koelectra-cookbook/koelectra-cookbook"
# A Hub model id: `name` or `owner/name` (letters, digits, `-`, `_`, `.`).
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")
METRIC_NAMES = {"accuracy": "Accuracy", "macro_f1": "Macro F1", "micro_f1": "Micro F1", "weighted_f1": "Weighted F1",
                "lrap": "Label ranking average precision", "hamming_loss": "Hamming loss",
                "subset_accuracy": "Subset accuracy", "samples_f1": "Samples F1"}
EXAMPLE_CHARACTERS = 200  # a long first text is cut in the usage example


def is_hub_id(name_or_path: str) -> bool:
    """A Hub id rather than a local folder (the base model was loaded from the Hub when no such folder exists)."""
    return HUB_ID.fullmatch(name_or_path) is not None and ".." not in name_or_path \
        and not Path(name_or_path).exists()


def portable_path(text: str, start: Path, keep: int = 1) -> str:
    """A path as a card may show it: relative to `start` (where the run was started) when it lies below it,
    otherwise only its last `keep` parts; a relative path stays as it was given."""
    path = Path(os.path.expanduser(text))
    if not path.is_absolute():
        return text
    try:
        return path.resolve().relative_to(start.resolve()).as_posix() or "."
    except ValueError:
        return "/".join(("...",) + path.parts[-keep:])


PATH_KEYS = {("model", "name_or_path"), ("data", "dir"), ("data", "train_file"), ("data", "dev_file"),
             ("data", "eval_file"), ("data", "cache_dir")}


def portable_config(config: dict, start: Path) -> dict:
    """The config as a dict, its paths made portable (labels and other strings are left as they are)."""
    shown = {section: dict(values) if isinstance(values, dict) else values for section, values in config.items()}
    for section, key in PATH_KEYS:
        value = shown.get(section, {}).get(key)
        if isinstance(value, str):
            shown[section][key] = portable_path(value, start)
        elif isinstance(value, list):  # data.train_file may list several files
            shown[section][key] = [portable_path(str(item), start) for item in value]
    return shown


def write_model_card(model_dir: Path, config: Config, label_names: list[str], results: dict, data: TaskData,
                     level: str, model_ref: str, model_name: str, start: Path | None = None) -> Path:
    """Write README.md into `model_dir`. `model_ref` is what the usage example loads (the final folder, as a
    portable path, or a Hub id), `model_name` the name its results go under in the model-index; `start` is
    where the run was started (default: the working directory)."""
    start = Path.cwd() if start is None else start
    front_matter = card_data(config, results, model_name).to_yaml()
    body = card_body(config, label_names, results, data, level, model_ref, start)
    card = ModelCard(f"---\n{front_matter}\n---\n\n{body}\n")  # parses it back: a malformed card fails here
    path = Path(model_dir) / "README.md"
    path.write_text(str(card), encoding="utf-8")
    return path


def card_data(config: Config, results: dict, model_name: str) -> ModelCardData:
    """The front matter: what the Hub indexes and shows beside the card."""
    spec = task_spec(config.task)
    hub_dataset = spec.hub_dataset if spec else None
    base = config.model.name_or_path
    return ModelCardData(
        language="ko",
        license=config.model.license,
        library_name="transformers",
        pipeline_tag="text-classification",
        base_model=base if is_hub_id(base) else None,
        datasets=[hub_dataset.id] if hub_dataset else None,
        tags=["koelectra-cookbook", config.task] + (["multi-label"] if config.data.multi_label else []),
        model_name=model_name,
        eval_results=eval_results(config, results),
    )


def eval_results(config: Config, results: dict) -> list[EvalResult]:
    """The model-index: the evaluation file's metrics first (the headline metric leading), then the dev split's,
    each naming the set it was measured on."""
    spec = task_spec(config.task)
    hub = spec.hub_dataset if spec else None
    eval_file = Path(config.data.eval_file).name
    sets = [("eval", hub.pretty_name if hub else config.task, hub.eval_split if hub else eval_file)]
    if "dev" in results:
        sets.append(("dev", f"{hub.pretty_name if hub else config.task} (dev: held out from the training file)",
                     "train"))
    headline = config.train.metrics[0]
    ordered = [headline] + [m for m in config.train.metrics if m != headline]
    entries = []
    for split, dataset_name, dataset_split in sets:
        for metric in ordered:
            if metric not in results[split]:
                continue
            entries.append(EvalResult(
                task_type="text-classification", task_name="Text Classification",
                dataset_type=hub.id if hub else config.task, dataset_name=dataset_name,
                dataset_config=hub.config if hub else None, dataset_split=dataset_split,
                metric_type=metric, metric_name=f"{METRIC_NAMES.get(metric, metric)} ({split})",
                metric_value=results[split][metric],
            ))
    return entries


def card_body(config: Config, label_names: list[str], results: dict, data: TaskData, level: str,
              model_ref: str, start: Path) -> str:
    spec = task_spec(config.task)
    multi_label = config.data.multi_label
    base = config.model.name_or_path
    base_shown = f"[{base}](https://huggingface.co/{base})" if is_hub_id(base) else \
        f"`{Path(base).name}` (a local model)"
    kind = ("multi-label: one sigmoid per label, thresholds tuned on the dev split" if multi_label
            else "single-label")
    lines = [
        f"# {config.task}: {spec.description if spec else 'text classification'}",
        "",
        f"Fine-tuned from {base_shown} by the {level} trainer of [koelectra-cookbook]({PROJECT_URL}) ({kind}).",
        "",
        "## Data",
        "",
        f"- training: {', '.join(f'`{Path(name).name}`' for name in config.data.train_files())}, "
        f"{len(data.train)} rows",
        f"- evaluation: `{Path(config.data.eval_file).name}`, {len(data.eval)} rows (reported only, never used "
        f"to choose anything)",
        *[f"- {note}" for note in data.notes],  # the dev split's line is among them when there is one
        "",
        "## Labels",
        "",
        ", ".join(f"{i}: {name}" for i, name in enumerate(label_names)),
        "",
        "## Metrics",
        "",
        *metrics_table(config, results),
        "",
        f"Best step: {results.get('best_step')}; training took {results.get('train_runtime_s')} s.",
        "",
        "## Use",
        "",
        *usage_example(model_ref, data.eval.texts[0] if len(data.eval) else "", multi_label),
        "",
        "## Training config",
        "",
        "```yaml",
        yaml.safe_dump(portable_config(config.to_dict(), start), allow_unicode=True, sort_keys=False).strip(),
        "```",
    ]
    return "\n".join(lines)


def metrics_table(config: Config, results: dict) -> list[str]:
    names = list(results["eval"])
    rows = ["| set | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for split, description in (("eval", f"evaluation file ({Path(config.data.eval_file).name})"),
                               ("dev", "dev split (held out from train)")):
        if split in results:
            rows.append(f"| {description} | " + " | ".join(f"{results[split][n]:.4f}" for n in names) + " |")
    return rows


def usage_example(model_ref: str, text: str, multi_label: bool) -> list[str]:
    """A pipeline call on the first text of the task's own evaluation file."""
    if len(text) > EXAMPLE_CHARACTERS:
        text = text[:EXAMPLE_CHARACTERS] + "…"
    quoted = json.dumps(text, ensure_ascii=False)  # a JSON string is a valid Python string literal
    if not multi_label:
        return ["```python", "from transformers import pipeline", "",
                f"classify = pipeline(\"text-classification\", model=\"{model_ref}\")",
                f"print(classify({quoted}))", "```"]
    return [
        "Every label has its own probability; a label applies when its probability reaches the label's decision",
        "threshold, tuned on the dev split and saved in `config.json` (`thresholds`, in label-id order):",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f"classify = pipeline(\"text-classification\", model=\"{model_ref}\", function_to_apply=\"sigmoid\", "
        f"top_k=None)",
        "config = classify.model.config",
        f"scores = classify([{quoted}])[0]  # a list of texts in, one list of label scores per text out",
        "labels = [s[\"label\"] for s in scores if s[\"score\"] >= config.thresholds[config.label2id[s[\"label\"]]]]",
        "print(scores, labels)",
        "```",
    ]

