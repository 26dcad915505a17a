"""A run's config resolved from its layers, each overriding the one before:

    dataclass defaults  <-  the task's data defaults (tasks.py)  <-  the YAML file  <-  --demo  <-  --set key=value

then completed with the defaults that depend on the task (the headline metric) and checked across keys. All of
it happens before any data, tokenizer or model is loaded."""

from __future__ import annotations

import argparse

from koelectra_cookbook.classifier.names import MULTI_LABEL_METRICS, REGRESSION_METRICS, SINGLE_LABEL_METRICS
from koelectra_cookbook.config.parsing import flatten, load_yaml, parse_overrides
from koelectra_cookbook.config.schema import Config, build_config, check_task_name
from koelectra_cookbook.config.tasks import TASKS, task_spec
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.paths import CONFIG_DIR, SAMPLES_DIR


def resolve_config(args: argparse.Namespace) -> Config:
    """Layer the config (task defaults <- YAML <- --demo <- --set), then fill the task-dependent defaults."""
    if args.config is not None:
        yaml_path = args.config
        file_layer = load_yaml(yaml_path)
        task = file_layer.get("task")
        if not task:
            raise UserError(f"{yaml_path}: needs a `task:` name (a built-in task or a name for your dataset)")
        if not isinstance(task, str):
            raise UserError(f"{yaml_path}: task must be a name, got {shown(task)}")
        check_task_name(task)  # before --demo looks for a samples folder of that name
    else:
        task = args.task
        yaml_path = CONFIG_DIR / f"{task}.yaml"
        if task_spec(task) is None:
            raise UserError(f"unknown task {shown(task)}: choose one of {', '.join(TASKS)}, or describe your own "
                            f"dataset in a YAML file and pass --config")
        file_layer = load_yaml(yaml_path) if yaml_path.is_file() else {}
    file_layer.pop("sweep", None)  # the search space of sweep.py: the trainers ignore it
    spec = task_spec(task)
    layers = [("defaults", {"task": task, "data": dict(spec.data_defaults) if spec else {},
                            "train": dict(spec.train_defaults) if spec else {}}),
              (str(yaml_path), file_layer)]
    overrides = ("--set", parse_overrides(args.overrides))
    if args.demo:
        build_config([*layers, overrides])  # every key checked before the demo model is built (that takes seconds)
        layers.append(("--demo", demo_layer(task, file_layer)))
    config = build_config([*layers, overrides])
    if config.data.source == "hub":  # the task's twin on the Hub, above its file layout, below the user's keys
        twin = spec.hub_dataset if spec else None
        if twin is None or twin.differences is None:
            raise UserError(f"data.source hub: the task {task} has no single dataset on the Hub to switch to; name "
                            f"one with data.dataset (and data.dataset_config)")
        layers.insert(1, ("the task's Hub twin", {"data": twin.layer()}))
        config = build_config([*layers, overrides])
    return complete_config(config, str(yaml_path))


def keys_set_by_the_user(args: argparse.Namespace) -> list[str]:
    """The dotted config keys the user set for this run: their YAML file's (--config) and --set's, the
    Trainer-style flags among them; not the defaults of a built-in task or its shipped config file."""
    layer = load_yaml(args.config) if args.config is not None else {}
    layer.pop("sweep", None)
    return list(dict.fromkeys([*flatten(layer), *flatten(parse_overrides(args.overrides))]))


def complete_config(config: Config, source: str) -> Config:
    """Fill the task-dependent defaults and check what depends on several keys at once."""
    check_task_name(config.task)
    spec, train, multi_label = task_spec(config.task), config.train, config.data.multi_label
    if not config.data.dir and not config.data.dataset:
        raise UserError(f"{source}: data.dir must name the folder holding your data files (or data.dataset a "
                        f"Hugging Face dataset)")
    regression = train.task_type == "regression"
    if regression and multi_label:
        raise UserError("config: train.task_type regression takes one score column (data.label_column), not "
                        "data.label_columns or data.multi_label")
    if regression and (config.data.labels or config.data.label_names):
        raise UserError("config: data.labels and data.label_names name classes; a regression task (train.task_type "
                        "regression) reads one score a row and takes neither")
    # A dataset of your own reports what the built-in tasks' config files list for their kind of task.
    default_metrics = (["macro_f1", "micro_f1", "samples_f1"] if multi_label else [spec.metric] if spec else
                       ["pearson", "spearman", "mse"] if regression else ["accuracy", "macro_f1"])
    train.metrics = train.metrics or default_metrics
    train.es_metric = train.es_metric or train.metrics[0]
    if train.es_metric != "loss" and train.es_metric not in train.metrics:
        raise UserError(f"config: train.es_metric {train.es_metric!r} must be 'loss' or one of train.metrics "
                        f"{train.metrics}")
    valid = REGRESSION_METRICS if regression else MULTI_LABEL_METRICS if multi_label else SINGLE_LABEL_METRICS
    for name in train.metrics:
        if name not in valid:
            kind = "regression" if regression else "multi-label" if multi_label else "single-label"
            raise UserError(f"config: train.metrics: {name!r} is not a {kind} metric (choose from {', '.join(valid)})")
    if "binary_f1" in train.metrics and train.binary_threshold is None:
        raise UserError("config: train.metrics: binary_f1 needs train.binary_threshold (the score where 'similar' "
                        "starts: 3.0 for KLUE-STS)")
    if multi_label and train.class_weights is not None:
        raise UserError("config: train.class_weights is for single-label data; multi-label data weighs its labels "
                        "with train.pos_weight")
    if not multi_label and (train.pos_weight is not None or train.threshold is not None):
        raise UserError("config: train.pos_weight and train.threshold are for multi-label data (data.label_columns "
                        "or data.multi_label)")
    return config


def demo_layer(task: str, file_layer: dict) -> dict:
    """--demo: the bundled samples and a tiny random ELECTRA built on the spot; nothing from the network."""
    from koelectra_cookbook.classifier.tiny import build_demo_model  # tokenizers: only for --demo

    samples = SAMPLES_DIR / task
    data = {"download": False}
    file_data = file_layer.get("data")
    if samples.is_dir():
        data["dir"] = str(samples)
    elif not (isinstance(file_data, dict) and file_data.get("dir")):
        raise UserError(f"--demo: no bundled samples for task {task!r} in {SAMPLES_DIR}")
    return {
        "model": {"name_or_path": str(build_demo_model())},
        "data": data,
        # A from-scratch model needs many passes over a few hundred rows and a high learning rate to learn.
        "train": {"epochs": 20, "batch_size": 16, "learning_rate": 1e-3, "log_every": 10, "es_patience": 5},
    }
