"""model/README.md: a model card written with every saved model, so the folder can go to the Hub as it is."""

from __future__ import annotations

from pathlib import Path

import yaml

from .config import Config
from .data.dataset import TaskData
from .data.tasks import task_spec


def write_model_card(model_dir: Path, config: Config, label_names: list[str], results: dict, data: TaskData,
                     level: str, final_dir: Path | None = None) -> Path:
    """Write README.md into `model_dir`: task, data, labels, metrics (with the set each was measured on),
    and the config that trained it. `final_dir` is where the folder will live (the usage example names it)."""
    spec = task_spec(config.task)
    multi_label = config.data.multi_label
    lines = [
        "---",
        yaml.safe_dump({"language": ["ko"], "library_name": "transformers", "pipeline_tag": "text-classification",
                        "base_model": config.model.name_or_path, "tags": ["koelectra-cookbook", config.task]},
                       allow_unicode=True, sort_keys=False).strip(),
        "---",
        "",
        f"# {config.task}: {spec.description if spec else 'text classification'}",
        "",
        f"Fine-tuned from `{config.model.name_or_path}` by the {level} trainer of koelectra-cookbook"
        f" ({'multi-label: one sigmoid per label, thresholds tuned on the dev split' if multi_label else 'single-label'}).",
        "",
        "## Data",
        "",
        f"- training: `{config.data.train_file}`, {len(data.train)} rows",
        f"- dev (held out from the training file, used to choose the checkpoint"
        f"{' and thresholds' if multi_label else ''}): {len(data.dev) if data.dev is not None else 0} rows",
        f"- evaluation: `{config.data.eval_file}`, {len(data.eval)} rows (reported only)",
        *[f"- {note}" for note in data.notes],
        "",
        "## Labels",
        "",
        ", ".join(f"{i}: {name}" for i, name in enumerate(label_names)),
        "",
        "## Metrics",
        "",
        "| set | " + " | ".join(results["eval"]) + " |",
        "|---|" + "---|" * len(results["eval"]),
    ]
    for split, description in (("eval", f"evaluation file ({config.data.eval_file})"),
                               ("dev", "dev split (held out from train)")):
        if split in results:
            lines.append(f"| {description} | " + " | ".join(f"{v:.4f}" for v in results[split].values()) + " |")
    lines += [
        "",
        f"Best step: {results.get('best_step')}; training took {results.get('train_runtime_s')} s.",
        "",
        "## Use",
        "",
        "```python",
        "from transformers import pipeline",
        f"classify = pipeline(\"text-classification\", model=\"{final_dir or model_dir}\""
        + (", function_to_apply=\"sigmoid\", top_k=None)" if multi_label else ")"),
        "print(classify(\"정말 재밌는 영화였어요\"))",
        "```",
        "",
        "## Training config",
        "",
        "```yaml",
        yaml.safe_dump(config.to_dict(), allow_unicode=True, sort_keys=False).strip(),
        "```",
        "",
    ]
    path = Path(model_dir) / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
