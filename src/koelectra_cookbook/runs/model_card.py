"""model/README.md: the model card written with every saved model, so the folder can go to the Hub as it is.

It is built with huggingface_hub's ModelCard (the library the Hub reads cards with): YAML front matter with
`language`, `datasets`, `base_model` (when the base is a Hub id) and a `model-index` of the evaluation file's
metrics, then the text. Nothing in it names a local absolute path: a published folder must not publish its
owner's directory layout.

The Use section is card_usage.py's.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from koelectra_cookbook.config.schema import Config
from koelectra_cookbook.files.safe_json import DamagedState, read_json
from koelectra_cookbook.files.tables import cell
from koelectra_cookbook.data.dataset import TaskData
from koelectra_cookbook.config.tasks import HubDataset, task_spec
from koelectra_cookbook.runs.card_calibration import calibration_section
from koelectra_cookbook.runs.card_usage import long_text_section, usage_example

PROJECT_URL = "https://github.com/koelectra-cookbook/koelectra-cookbook"
# A Hub model id: `name` or `owner/name` (letters, digits, `-`, `_`, `.`).
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)?")
METRIC_NAMES = {"accuracy": "Accuracy", "macro_f1": "Macro F1", "micro_f1": "Micro F1", "weighted_f1": "Weighted F1",
                "lrap": "Label ranking average precision", "hamming_loss": "Hamming loss",
                "subset_accuracy": "Subset accuracy", "samples_f1": "Samples F1", "pearson": "Pearson",
                "spearman": "Spearman", "mse": "MSE", "binary_f1": "Binary F1"}
# The model-index's metric `type` is a metric id of https://hf.co/metrics (what the Hub groups results by), with
# the arguments that make ours; a metric with no such id keeps its own name.
HUB_METRICS: dict[str, tuple[str, dict | None]] = {
    "accuracy": ("accuracy", None), "macro_f1": ("f1", {"average": "macro"}),
    "micro_f1": ("f1", {"average": "micro"}), "weighted_f1": ("f1", {"average": "weighted"}),
    "samples_f1": ("f1", {"average": "samples"}), "pearson": ("pearsonr", None), "spearman": ("spearmanr", None),
    "mse": ("mse", None), "binary_f1": ("f1", None),
}


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


def hub_source(config: Config) -> HubDataset | None:
    """The dataset on the Hub the run's data is, or is the twin of: data.dataset when it names a Hub id (a local
    folder is no Hub dataset), else the built-in task's; None for a user's own files."""
    data = config.data
    if data.dataset:
        if not is_hub_id(data.dataset):
            return None
        name = data.dataset + (f" ({data.dataset_config})" if data.dataset_config else "")
        return HubDataset(data.dataset, name, data.dataset_eval_split, data.dataset_config)
    spec = task_spec(config.task)
    return spec.hub_dataset if spec else None


def card_data(config: Config, results: dict, model_name: str) -> ModelCardData:
    """The front matter: what the Hub indexes and shows beside the card."""
    hub_dataset = hub_source(config)
    base = config.model.name_or_path
    return ModelCardData(
        language="ko",
        license=config.model.license,
        library_name="transformers",
        pipeline_tag="text-classification",
        base_model=base if is_hub_id(base) else None,
        datasets=[hub_dataset.id] if hub_dataset else None,
        tags=["koelectra-cookbook", config.task] + (["multi-label"] if config.data.multi_label else [])
        + (["sentence-pair"] if config.data.text_pair_column else [])
        + (["regression"] if is_regression(config) else []),
        model_name=model_name,
        eval_results=eval_results(config, results),
    )


def is_regression(config: Config) -> bool:
    return config.train.task_type == "regression"


def dev_split_name(config: Config) -> str:
    """The Hub split the dev set comes from: a dev file is the dataset's validation split when the evaluation file
    is its test split (KorNLI, KorSTS), otherwise the file itself; a dev split held out is part of `train`."""
    if config.data.dataset:
        return config.data.dataset_dev_split or "train"
    if not config.data.dev_file:
        return "train"
    hub = hub_source(config)
    return "validation" if hub and hub.eval_split == "test" else Path(config.data.dev_file).name


def eval_results(config: Config, results: dict) -> list[EvalResult]:
    """The model-index: the evaluation file's metrics first (the headline metric leading), then the dev set's,
    each naming the set it was measured on."""
    hub = hub_source(config)
    data = config.data
    eval_file = data.dataset_eval_split if data.dataset else Path(data.eval_file).name
    name = hub.pretty_name if hub else config.task
    sets = [("eval", name, hub.eval_split if hub else eval_file)]
    if "dev" in results:
        dev_file = data.dataset_dev_split if data.dataset else data.dev_file
        dev = Path(dev_file).name if dev_file else "held out from the training file"
        sets.append(("dev", f"{name} (dev: {dev})", dev_split_name(config)))
    headline = config.train.metrics[0]
    ordered = [headline] + [m for m in config.train.metrics if m != headline]
    entries = []
    for split, dataset_name, dataset_split in sets:
        for metric in ordered:
            if metric not in results[split]:
                continue
            metric_type, metric_args = HUB_METRICS.get(metric, (metric, None))
            if metric == "binary_f1" and config.train.binary_threshold is not None:
                shown_name = f"{METRIC_NAMES[metric]} (score >= {config.train.binary_threshold:g})"
            else:
                shown_name = METRIC_NAMES.get(metric, metric)
            entries.append(EvalResult(
                task_type="text-classification", task_name="Text Classification",
                dataset_type=hub.id if hub else config.task, dataset_name=dataset_name,
                dataset_config=hub.config if hub else None, dataset_split=dataset_split,
                metric_type=metric_type, metric_args=metric_args, metric_name=f"{shown_name} ({split})",
                metric_value=results[split][metric],
            ))
    return entries


def adaptation(base: str) -> str:
    """A sentence for a base model that pretrain.py adapted (its config.json's `adapted_by`), else ""."""
    config_file = Path(base) / "config.json"
    if not config_file.is_file():
        return ""
    try:
        settings = read_json(config_file, limit=2**20, follow_links=True)
    except DamagedState:
        return ""
    info = settings.get("adapted_by") if isinstance(settings, dict) else None
    if not isinstance(info, dict) or not isinstance(info.get("corpus"), str) or type(info.get("steps")) is not int:
        return ""
    objective = {"masked_lm": "masked-language modelling"}.get(info.get("objective"), "replaced-token detection")
    return (f" Its encoder was adapted beforehand by continued pretraining (`pretrain.py`, {objective}, "
            f"{info['steps']} steps on {cell(info['corpus'], 200)}).")


def card_body(config: Config, label_names: list[str], results: dict, data: TaskData, level: str,
              model_ref: str, start: Path) -> str:
    spec = task_spec(config.task)
    multi_label = config.data.multi_label
    base = config.model.name_or_path
    base_shown = f"[{base}](https://huggingface.co/{base})" if is_hub_id(base) else \
        f"`{Path(base).name}` (a local model)"
    regression = is_regression(config)
    kind = ("multi-label: one sigmoid per label, thresholds tuned on the dev split" if multi_label
            else "regression: one output, a predicted score" if regression else "single-label")
    if data.train.pairs is not None:
        kind = f"sentence pairs, {kind}"
    first = data.eval.texts[0] if len(data.eval) else ""
    first_pair = data.eval.pairs[0] if len(data.eval) and data.eval.pairs is not None else None
    lines = [
        f"# {config.task}: {spec.description if spec else 'text classification'}",
        "",
        f"Fine-tuned from {base_shown} by the {level} trainer of [koelectra-cookbook]({PROJECT_URL}) ({kind})."
        + adaptation(base),
        "",
        "## Data",
        "",
        f"- training: {', '.join(f'`{Path(name).name}`' for name in config.data.train_files())}, "
        f"{len(data.train)} rows",
        f"- evaluation: `{Path(config.data.eval_file).name}`, {len(data.eval)} rows (reported only, never used "
        f"to choose anything)",
        *dev_file_line(config, data),
        # The held-out dev split's line is among the notes when there is one; a dev file's is the line above.
        *[f"- {note}" for note in data.notes if not is_dev_file_note(note)],
        "",
        "## Labels",
        "",
        regression_output(data) if regression else ", ".join(f"{i}: {name}" for i, name in enumerate(label_names)),
        "",
        "## Metrics",
        "",
        *metrics_table(config, results),
        "",
        f"Best step: {results.get('best_step')}; training took {results.get('train_runtime_s')} s.",
        "",
        *calibration_section(results),
        "## Use",
        "",
        *usage_example(model_ref, first, multi_label, first_pair, regression, data.long_text),
        "",
        *long_text_section(model_ref, first, data, multi_label, regression),
        "## Training config",
        "",
        "```yaml",
        yaml.safe_dump(portable_config(config.to_dict(), start), allow_unicode=True, sort_keys=False).strip(),
        "```",
    ]
    return "\n".join(lines)


def dev_file_line(config: Config, data: TaskData) -> list[str]:
    """The Data section's line for data.dev_file (none for a dev split held out from the training file)."""
    if not config.data.dev_file or data.dev is None:
        return []
    return [f"- dev: `{Path(config.data.dev_file).name}`, {len(data.dev)} rows (data.dev_file: chooses the best "
            f"checkpoint and when to stop)"]


def is_dev_file_note(note: str) -> bool:
    """The loader's note on data.dev_file, which names the file as configured (it may be a local path)."""
    return note.startswith("dev: ") and note.endswith("(data.dev_file)")


def regression_output(data: TaskData) -> str:
    """What a regression model predicts, with the range of the scores it learnt from."""
    scores = data.train.labels
    learnt = f" (the training scores run from {scores.min():g} to {scores.max():g})" if len(scores) else ""
    return (f"No classes: the model predicts one score per {'pair' if data.train.pairs is not None else 'text'}"
            f"{learnt}, its single output (named `score` in config.json, `problem_type: regression`), not clipped "
            f"to the training range.")


def metrics_table(config: Config, results: dict) -> list[str]:
    names = list(results["eval"])
    rows = ["| set | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    dev = (f"dev file ({Path(config.data.dev_file).name})" if config.data.dev_file
           else "dev split (held out from train)")
    for split, description in (("eval", f"evaluation file ({Path(config.data.eval_file).name})"), ("dev", dev)):
        if split in results:
            rows.append(f"| {description} | " + " | ".join(f"{results[split][n]:.4f}" for n in names) + " |")
    return rows
