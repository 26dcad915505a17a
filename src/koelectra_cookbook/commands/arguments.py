"""The arguments every training script takes (and sweep.py, which adds its own), checked before anything heavy
loads. The Hugging Face Trainer's names for the common knobs work too, as aliases of the config keys, so a
habit from run_glue.py finds what it means here."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Callable
from pathlib import Path

from koelectra_cookbook.commands.shell import ArgumentParser, path_argument
from koelectra_cookbook.config.schema import Config
from koelectra_cookbook.config.tasks import TASKS
from koelectra_cookbook.runs.push import check_repo_id

# Hugging Face Trainer / run_glue.py flags and the config key each one sets (`--set KEY=VALUE`).
TRAINER_ALIASES = {
    "--model_name_or_path": "model.name_or_path",
    "--dataset_name": "data.dataset",
    "--dataset_config_name": "data.dataset_config",
    "--max_seq_length": "model.max_seq_len",
    "--learning_rate": "train.learning_rate",
    "--num_train_epochs": "train.epochs",
    "--max_steps": "train.max_steps",
    "--per_device_train_batch_size": "train.batch_size",
    "--per_device_eval_batch_size": "train.eval_batch_size",
    "--weight_decay": "train.weight_decay",
    "--warmup_ratio": "train.warmup_ratio",
    "--warmup_steps": "train.warmup_steps",
    "--gradient_accumulation_steps": "train.gradient_accumulation_steps",
    "--max_grad_norm": "train.max_grad_norm",
    "--logging_steps": "train.log_every",
    "--eval_steps": "train.eval_every",
    "--save_total_limit": "train.save_total_limit",
    "--seed": "train.seed",
}


def parse_args(description: str, argv: list[str] | None, resumable: bool,
               extra: Callable[[argparse.ArgumentParser], None] | None = None,
               default_config: Path | None = None) -> argparse.Namespace:
    """The arguments every script takes (`extra` adds a script's own, e.g. sweep.py's). The aliases and --fp16 /
    --bf16 become `--set` overrides, placed before the explicit ones (which win)."""
    usage = "%(prog)s (--task NAME | --config PATH) [--set KEY=VALUE ...] [options]"
    if resumable:
        usage += "\n       %(prog)s --resume RUN_DIR"
    parser = ArgumentParser(description=description, usage=usage, formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="Every config key, its default and what it does: --help-config")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--task", help=f"a built-in task ({', '.join(TASKS)}); reads config/<task>.yaml")
    source.add_argument("--config", type=lambda text: Path(path_argument(text)),
                        help="a YAML config file (see config/custom-example.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set train.epochs=1 (repeatable; values are YAML)")
    parser.add_argument("--output-dir", "--output_dir", type=path_argument,
                        help="where run directories go (default: runs)")
    parser.add_argument("--demo", action="store_true",
                        help="offline: bundled sample data and a tiny random ELECTRA (under a minute on a CPU)")
    parser.add_argument("--push-to-hub", metavar="REPO_ID", type=check_repo_id,
                        help="after the run is saved, upload its model/ to this Hub repository (private)")
    parser.add_argument("--help-config", action=HelpConfig, nargs=0,
                        help="list every config key with its default and what it does, then exit")
    if resumable:
        parser.add_argument("--resume", type=lambda text: Path(path_argument(text)), metavar="RUN_DIR",
                            help="continue a run in its directory")
    aliases = parser.add_argument_group("Hugging Face Trainer names", "each sets the config key named, as --set does")
    for flag, key in TRAINER_ALIASES.items():
        aliases.add_argument(flag, dest=f"alias {key}", metavar="VALUE", help=f"= --set {key}=VALUE")
    aliases.add_argument("--fp16", dest="alias train.mixed_precision", action="store_const", const="fp16",
                         help="= --set train.mixed_precision=fp16")
    aliases.add_argument("--bf16", dest="alias train.mixed_precision", action="store_const", const="bf16",
                         help="= --set train.mixed_precision=bf16")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    aliased = [f"{name.removeprefix('alias ')}={value}" for name, value in vars(args).items()
               if name.startswith("alias ") and value is not None]
    args.overrides = aliased + args.overrides
    resume = getattr(args, "resume", None)
    if resume is not None and (args.task or args.config or args.overrides or args.demo or args.output_dir):
        parser.error("--resume continues a run in its own folder with its own config.yaml: give it alone "
                     "(or with --push-to-hub)")
    if not args.task and not args.config and resume is None:
        if default_config is None:
            parser.error("give --task NAME or --config PATH")
        args.config = default_config
    if args.output_dir == "":
        parser.error("--output-dir must name a folder")
    if args.task and any(assignment.strip().startswith("task=") for assignment in args.overrides):
        parser.error("--set task=...: the task is the one --task names")
    args.output_dir = Path(args.output_dir or "runs")
    return args


class HelpConfig(argparse.Action):
    """--help-config: every config key, its default and its one line of help, then exit 0."""

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(config_help() + "\n")
        parser.exit(0)


def config_help() -> str:
    """The config keys by section, each `key = default  help`, as --set takes them."""
    lines = ["Config keys (YAML sections model:, data:, train:; or --set section.key=value):"]
    for name, section in typing.get_type_hints(Config).items():
        if not dataclasses.is_dataclass(section):
            continue
        lines.append(f"\n{name}:")
        for knob in dataclasses.fields(section):
            default = yaml_value(knob.default)
            key = f"  {name}.{knob.name} = {default}"
            help_text = knob.metadata.get("help", "")
            lines.append(f"{key:<48}  {help_text}" if len(key) <= 48 else f"{key}\n{'':<48}  {help_text}")
    return "\n".join(lines)


def yaml_value(value) -> str:
    """A default as it would be written in YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value) if value == "" else value
    return str(value)
