"""Command-line handling shared by every script: arguments -> validated Config -> trainer -> run directory.

Exit status: 0 on success (the last line printed is `run: <run directory>`), 2 on a user error (one
`error: ...` line on stderr, no traceback), 130 after Ctrl-C or SIGTERM (with the resume command when the run
has a checkpoint). Anything else is a bug.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument, quiet_libraries
from koelectra_cookbook.config.schema import Config, build_config, check_task_name, load_yaml, parse_overrides
from koelectra_cookbook.config.parsing import flat_differences
from koelectra_cookbook.config.tasks import TASKS, task_spec
from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.paths import CONFIG_DIR, SAMPLES_DIR
from koelectra_cookbook.runs.push import check_repo_id, push_run
from koelectra_cookbook.runs.directory import RunDirectory

# The script that continues each level's runs.
RESUME_SCRIPTS = {"intermediate": "train_intermediate.py", "expert": "train_expert.py",
                  "multi-label": "train_multi_label.py"}


def parse_args(description: str, argv: list[str] | None, resumable: bool,
               extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The arguments every script takes (`extra` adds a script's own, e.g. sweep.py's)."""
    parser = ArgumentParser(description=description)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--task", help=f"a built-in task ({', '.join(TASKS)}); reads config/<task>.yaml")
    source.add_argument("--config", type=lambda text: Path(path_argument(text)),
                        help="a YAML config file (see config/custom-example.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=1 (repeatable; values are YAML)")
    parser.add_argument("--output-dir", type=path_argument, help="where run directories go (default: runs)")
    parser.add_argument("--demo", action="store_true",
                        help="offline: bundled sample data and a tiny random ELECTRA (under a minute on a CPU)")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", type=check_repo_id,
                        help="after the run is saved, upload its model/ to this Hub repository (private)")
    if resumable:
        parser.add_argument("--resume", type=lambda text: Path(path_argument(text)), metavar="RUN_DIR",
                            help="continue a run in its directory")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    resume = getattr(args, "resume", None)
    if resume is not None and (args.task or args.config or args.overrides or args.demo or args.output_dir):
        parser.error("--resume continues a run in its own folder with its own config.yaml: give it alone "
                     "(or with --push-to-hub)")
    if not args.task and not args.config and resume is None:
        parser.error("give --task NAME or --config PATH")
    if args.output_dir == "":
        parser.error("--output-dir must name a folder")
    if args.task and any(assignment.strip().startswith("task=") for assignment in args.overrides):
        parser.error("--set task=...: the task is the one --task names")
    args.output_dir = Path(args.output_dir or "runs")
    return args


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
    layers = [("defaults", {"task": task, "data": dict(spec.data_defaults) if spec else {}}),
              (str(yaml_path), file_layer)]
    if args.demo:
        layers.append(("--demo", demo_layer(task, file_layer)))
    layers.append(("--set", parse_overrides(args.overrides)))
    return complete_config(build_config(layers), str(yaml_path))


def complete_config(config: Config, source: str) -> Config:
    """Fill the task-dependent defaults and check what depends on several keys at once."""
    check_task_name(config.task)
    spec, train, multi_label = task_spec(config.task), config.train, config.data.multi_label
    if not config.data.dir:
        raise UserError(f"{source}: data.dir must name the folder holding your data files")
    default_metric = "macro_f1" if multi_label else (spec.metric if spec else "accuracy")
    train.metrics = train.metrics or [default_metric]
    train.es_metric = train.es_metric or train.metrics[0]
    if train.es_metric != "loss" and train.es_metric not in train.metrics:
        raise UserError(f"config: train.es_metric {train.es_metric!r} must be 'loss' or one of train.metrics "
                        f"{train.metrics}")
    # Imported here, not at the top: scikit-learn takes seconds to import, and predict.py needs none of it.
    from koelectra_cookbook.classifier.metrics import MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS

    valid = MULTI_LABEL_METRICS if multi_label else SINGLE_LABEL_METRICS
    for name in train.metrics:
        if name not in valid:
            kind = "multi-label" if multi_label else "single-label"
            raise UserError(f"config: train.metrics: {name!r} is not a {kind} metric (choose from {', '.join(valid)})")
    if multi_label and train.class_weights is not None:
        raise UserError("config: train.class_weights is for single-label data; multi-label data weighs its labels "
                        "with train.pos_weight")
    if not multi_label and (train.pos_weight is not None or train.threshold is not None):
        raise UserError("config: train.pos_weight and train.threshold are for multi-label data (data.label_columns "
                        "or data.multi_label)")
    return config


def check_script_fits(trainer_class, config: Config) -> None:
    """Multi-label data goes to train_multi_label.py, single-label data to the other scripts."""
    multi_label_trainer = trainer_class.multi_label
    if config.data.multi_label and not multi_label_trainer:
        raise UserError(f"task {config.task!r} is multi-label: run train_multi_label.py")
    if multi_label_trainer and not config.data.multi_label:
        raise UserError(f"task {config.task!r} is single-label: run train_expert.py (or set data.label_columns / "
                        f"data.multi_label for multi-label data)")


def load_resume_config(run_dir: Path, level: str) -> Config:
    """The config of the run to continue (--resume), after checking that the folder is a run of this level whose
    config.yaml is still the one it was started with."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"--resume {run_dir}: not a run directory (no config.yaml in it)")
    RunDirectory(run_dir).check_own_files()
    identity = RunDirectory(run_dir).identity()
    if identity["level"] != level:
        script = RESUME_SCRIPTS.get(identity["level"])
        how = f"resume it with {script}" if script else "that level keeps no checkpoints"
        raise UserError(f"--resume {run_dir}: a {identity['level']} run, and this script continues {level} runs "
                        f"({how}, or start a new run)")
    config = complete_config(build_config([(str(config_file), load_yaml(config_file))]), str(config_file))
    edits = flat_differences(identity["config"], config.to_dict())
    if edits:
        listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in list(edits.items())[:4])
        raise UserError(f"{config_file} was edited after the run started ({listed}{'; ...' if len(edits) > 4 else ''})"
                        f"; a run resumes with the config it started with: undo the edit, or start a new run")
    return config


def demo_layer(task: str, file_layer: dict) -> dict:
    """--demo: the bundled samples and a tiny random ELECTRA built on the spot; nothing from the network."""
    from koelectra_cookbook.classifier.tiny import build_demo_model

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


def main(trainer_class, description: str, argv: list[str] | None = None) -> int:
    """Run one training script: parse, configure, train, report. Returns the process exit status."""
    quiet_libraries()
    resumable = getattr(trainer_class, "supports_resume", False)
    trainer = None

    def train() -> None:
        nonlocal trainer
        args = parse_args(description, argv, resumable)
        if resumable and args.resume is not None:
            config = load_resume_config(args.resume, trainer_class.level)
            check_script_fits(trainer_class, config)
            trainer = trainer_class(config, resume_dir=args.resume, push_to_hub=args.push_to_hub)
        else:
            config = resolve_config(args)
            check_script_fits(trainer_class, config)
            trainer = trainer_class(config, output_dir=args.output_dir, push_to_hub=args.push_to_hub)
        if args.push_to_hub:
            warn_without_token(args.push_to_hub)
        try:
            run_dir = trainer.run()
        finally:
            if getattr(trainer, "run_dir", None) is not None:
                trainer.run_dir.unlock()
        if trainer.accelerator.is_main_process:
            if args.push_to_hub:  # the run is saved: a failed upload is an error line, never lost work
                print(f"uploaded: {push_run(run_dir, args.push_to_hub, just_trained=True)}")
            print(f"run: {run_dir}")

    return exit_status(train, lambda: interrupted_message(trainer))


def warn_without_token(repo_id: str) -> None:
    """Say at the start, not only after an hour of training, that the upload will need a token."""
    from huggingface_hub import get_token

    if get_token() is None:
        print(f"note: no Hugging Face token found; log in (hf auth login) or set HF_TOKEN before the run ends, "
              f"or the model is saved but not uploaded to {repo_id}", file=sys.stderr)


def interrupted_message(trainer) -> str:
    """What to say after Ctrl-C or SIGTERM outside the training loop (set-up, final evaluation, saving)."""
    run = getattr(trainer, "run_dir", None)
    if run is None:
        return "interrupted before the run started; nothing was written"
    if getattr(trainer, "supports_resume", False):
        return f"interrupted; resume with: python {Path(sys.argv[0]).name} --resume {run.path}"
    return f"interrupted; {run.path} is incomplete (the {trainer.level} level keeps no checkpoints to resume from)"
