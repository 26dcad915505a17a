"""Command-line handling shared by every script: arguments -> validated Config -> trainer -> run directory.

Exit status: 0 on success (the last line printed is `run: <run directory>`), 2 on a user error (one
`error: ...` line on stderr, no traceback), 130 after Ctrl-C or SIGTERM (with the resume command when the run
has a checkpoint). Anything else is a bug.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from koelectra_cookbook.commands.arguments import parse_args
from koelectra_cookbook.commands.shell import exit_status, quiet_libraries
from koelectra_cookbook.classifier.model_folder import read_model_folder
from koelectra_cookbook.config.levels import LEVELS, check_level, import_trainer, unused_settings
from koelectra_cookbook.config.resolve import keys_set_by_the_user, resolve_config
from koelectra_cookbook.data.preflight import check_inputs
from koelectra_cookbook.paths import CONFIG_DIR
from koelectra_cookbook.runs.resume import load_resume_config
from koelectra_cookbook.runs.push import push_run


def main(trainer: type | str, description: str, argv: list[str] | None = None) -> int:
    """Run one training script: parse, configure and check (before torch loads), train, report. `trainer` is a
    level's name (the scripts: its module is imported only once the config is checked) or a trainer class (the
    tests' own subclasses). Returns the process exit status."""
    quiet_libraries()
    level = LEVELS[trainer if isinstance(trainer, str) else trainer.level]
    running = None

    def train() -> None:
        nonlocal running
        # `python pretrain.py --demo` alone pretrains on the bundled corpus (config/pretrain.yaml)
        args = parse_args(description, argv, level.resumable,
                          default_config=CONFIG_DIR / "pretrain.yaml" if level.name == "pretraining" else None)
        resume = getattr(args, "resume", None)
        config = load_resume_config(resume, level.name) if resume is not None else resolve_config(args)
        check_level(level, config)
        unused = None if resume is not None else unused_settings(level, keys_set_by_the_user(args))
        if unused and os.environ.get("RANK", "0") == "0":  # once, not once per process; with the run's other notes
            print(unused)
        check_inputs(config, writes=resume is None, evaluation=level.name != "pretraining")
        trainer_class = import_trainer(level) if isinstance(trainer, str) else trainer
        if resume is not None:
            running = trainer_class(config, resume_dir=resume, push_to_hub=args.push_to_hub)
        else:
            running = trainer_class(config, output_dir=args.output_dir, push_to_hub=args.push_to_hub)
        if args.push_to_hub:
            warn_without_token(args.push_to_hub)
        run_dir = running.run()
        if running.accelerator.is_main_process:
            print(fine_tune_it(run_dir) if level.name == "pretraining" else next_steps(run_dir))
            if args.push_to_hub:  # the run is saved: a failed upload is an error line, never lost work
                print(f"uploaded: {push_run(run_dir, args.push_to_hub, just_trained=True)}")
            print(f"run: {run_dir}")
        leave_process_group()

    return exit_status(train, lambda: interrupted_message(running))


def leave_process_group() -> None:
    """Under torchrun or `accelerate launch`, each process leaves its process group before it exits: one that exits
    with the group open can abort in gloo's threads ("terminate called without an active exception", exit -6)
    and fail the launch after the run is saved. (Not in the trainer's teardown: a sweep trains again in the same
    process.)"""
    import torch.distributed

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def next_steps(run_dir: Path) -> str:
    """What a newcomer can do with the run just saved (printed before the `uploaded:` and `run:` lines, which stay last)."""
    model = run_dir / "model"
    reads = ("two texts a line, a tab between them" if read_model_folder(model).sentence_pair
             else "one text a line")
    return (f"next: python predict.py --model {model} --input texts.txt   ({reads}; or pipe text in)\n"
            f"      python app.py --model {model}   (a web page; needs the app extra)\n"
            f"      python compare.py {run_dir.parent}   (this run beside the others of its task)")


def fine_tune_it(run_dir: Path) -> str:
    """What to do with an adapted encoder: fine-tune it (any training script takes its model/ folder)."""
    generator = run_dir / "generator"  # replaced-token detection's; masked-language modelling has none
    again = f" --set pretrain.generator={generator}" if generator.is_dir() else " --set pretrain.objective=masked_lm"
    return (f"next: python train_expert.py --task nsmc --set model.name_or_path={run_dir / 'model'}   (or any task "
            f"and script: the adapted encoder gets a new head)\n"
            f"      python pretrain.py --config ... --set model.name_or_path={run_dir / 'model'}{again}   "
            f"(to continue pretraining)")


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
