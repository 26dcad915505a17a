"""A hyperparameter search with Optuna, selecting on the dev split only (sweep.py: commands/sweep.py).

Each trial is an ordinary expert (or multi-label) run in <output-dir>/<task>/sweep-<study>/, whose dev
evaluations are reported to Optuna so that the median pruner stops poor trials early (sweep_trial.py).
The study lives in an RDB storage (SQLite at <sweep folder>/study.db by default), so running the same command
again continues it until --trials trials are complete or pruned in all, and several processes can share it.
The end: the best trial, its config as a YAML for the trainers, and with --repeat-best N the best config run
with N new seeds and scored on the evaluation file as mean +- std.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
import warnings
from pathlib import Path

import yaml

from koelectra_cookbook.classifier.names import is_minimized
from koelectra_cookbook.config.levels import LEVELS, check_level
from koelectra_cookbook.config.parsing import flat_differences, load_yaml, nest
from koelectra_cookbook.config.resolve import complete_config, resolve_config
from koelectra_cookbook.config.schema import TASK_NAME, Config, build_config
from koelectra_cookbook.data.preflight import check_inputs
from koelectra_cookbook.errors import TrainingInterrupted, UserError, shown
from koelectra_cookbook.experiments.sweep_report import finished_line, repeat_summary
from koelectra_cookbook.experiments.sweep_space import check_space, default_space, suggest
from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.files.safe_json import DamagedState
from koelectra_cookbook.paths import CONFIG_DIR
from koelectra_cookbook.runs.reader import read_results

HEARTBEAT_S = 30  # a trial whose process stopped beating this long ago x 4 is marked failed (a killed sweep)


def run_sweep(args: argparse.Namespace) -> None:
    """The search of commands/sweep.py's arguments: check everything, then run the trials and report the best."""
    try:
        import optuna
    except ImportError:
        raise UserError('sweep.py needs Optuna: pip install -e ".[sweep]"') from None
    if args.push_to_hub:
        raise UserError("--push-to-hub uploads one run: upload the best trial's run with python -m "
                        "koelectra_cookbook.commands.push RUN_DIR REPO_ID")
    if args.trials < 1 or args.repeat_best < 0 or (args.evals_per_epoch or 1) < 1:
        raise UserError("--trials and --evals-per-epoch must be at least 1, --repeat-best at least 0")
    if not TASK_NAME.fullmatch(args.study) or args.study in (".", ".."):
        raise UserError(f"--study {shown(args.study)}: must be a name of letters, digits, '_', '-' and '.'")
    base = resolve_config(args)
    check_level(LEVELS["multi-label" if base.data.multi_label else "expert"], base)
    source, space = sweep_section(args)
    space = check_space(space if space is not None else default_space(base.data.multi_label, args.demo), base,
                        source if space is not None else "the default search space")
    if args.evals_per_epoch is None:  # 4 evaluations in a 1-epoch run, 2 per epoch in 2 or 3, then 1 per epoch
        args.evals_per_epoch = max(1, math.ceil(4 / base.train.epochs))
    if base.data.dev_split <= 0 and not base.data.dev_file:  # a dev file (KorSTS, KorNLI) needs no split
        raise UserError("config: a sweep selects on the dev split, so data.dev_split must be above 0 (or "
                        "data.dev_file must name a dev file)")
    check_inputs(base, writes=True)
    folder = args.output_dir / base.task / f"sweep-{args.study}"
    folder.mkdir(parents=True, exist_ok=True)
    study = open_study(optuna, args, base, space, folder)
    run_trials(optuna, study, args, base, space, folder)
    report_best(optuna, study, args, base, space, folder)


def sweep_section(args: argparse.Namespace) -> tuple[str, object]:
    """The `sweep:` section of the YAML the trainers read (the --config file, or config/<task>.yaml), or None."""
    path = args.config if args.config is not None else CONFIG_DIR / f"{args.task}.yaml"
    layer = load_yaml(path) if args.config is not None or path.is_file() else {}
    return str(path), layer.get("sweep")


def trial_config(base: Config, values: dict) -> Config:
    """The base config with one trial's values, checked as --set values are."""
    return complete_config(build_config([("sweep base", base.to_dict()), ("sweep", nest(values))]), "sweep")


def open_study(optuna, args, base: Config, space: dict, folder: Path):
    """Create the study, or load it to continue; a study started with another config or space is refused."""
    url = args.storage or f"sqlite:///{(folder / 'study.db').resolve()}"
    for attempt in range(3):  # two processes creating the same new database race on its tables: try again
        try:
            with warnings.catch_warnings():  # the heartbeat is marked experimental; it is what finds killed trials
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S,
                                                     grace_period=4 * HEARTBEAT_S)
            break
        except Exception as exc:  # an unreachable server, a bad URL, a damaged file: SQLAlchemy's many errors
            if attempt == 2:
                raise UserError(f"--storage {shown(without_password(url), 200)}: cannot open it "
                                f"({' '.join(str(exc).split())[:200]})") from None
            time.sleep(1 + attempt)
    metric = base.train.es_metric
    direction = study_direction(metric)
    seed = base.train.seed if args.sampler_seed is None else args.sampler_seed
    study = optuna.create_study(storage=storage, study_name=args.study, direction=direction, load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2))
    # Continuing: a fresh seed per session, or it would propose the same first points again.
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials),
                                               n_startup_trials=max(2, min(10, args.trials // 4)))
    plan = {"config": base.to_dict(), "space": {key: str(rule) for key, rule in space.items()},
            "metric": metric, "evals_per_epoch": args.evals_per_epoch}  # what makes trials comparable
    if "plan" not in study.user_attrs:
        study.set_user_attr("plan", plan)
    elif study.user_attrs["plan"] != plan:
        edits = flat_differences(study.user_attrs["plan"] if isinstance(study.user_attrs["plan"], dict) else {}, plan)
        listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in list(edits.items())[:3])
        raise UserError(f"study {args.study!r} in {shown(without_password(url), 200)} was started with another config or search "
                        f"space ({listed[:400]}); use the same arguments to continue it, or another --study")
    return study


def study_direction(metric: str) -> str:
    """Optuna's direction for the selection metric: "minimize" for a metric where smaller is better (loss,
    hamming_loss, a regression's mse: classifier.names.is_minimized), else "maximize"."""
    return "minimize" if is_minimized(metric) else "maximize"


def without_password(url: str) -> str:
    """postgresql://user:secret@host/db -> postgresql://user:***@host/db, for messages."""
    return re.sub(r"(://[^/:@]*:)[^/]*@", r"\1***@", url)


def finished_count(optuna, study) -> int:
    """Trials complete or pruned (a trial left RUNNING by a killed process does not count; Optuna's heartbeat
    marks it failed once it has been silent for the grace period)."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def run_trials(optuna, study, args, base: Config, space: dict, folder: Path) -> None:
    from tqdm.auto import tqdm

    from koelectra_cookbook.experiments.sweep_trial import ExpertTrial, MultiLabelTrial

    trainer_class = MultiLabelTrial if base.data.multi_label else ExpertTrial
    done = finished_count(optuna, study)
    print(f"study {args.study!r}: {done} of {args.trials} trials finished; {folder}", flush=True)
    if done >= args.trials:
        return
    bar = tqdm(total=args.trials, initial=done, desc="trials", unit="trial", dynamic_ncols=True)

    def objective(trial) -> float:
        trainer = trainer_class(trial_config(base, suggest(trial, space)), folder, trial, args.evals_per_epoch)
        try:
            trainer.run()
        except optuna.TrialPruned:
            write_pruned_note(trainer)
            raise
        except TrainingInterrupted:  # Ctrl-C: the trial's checkpoint is no use to the study
            raise KeyboardInterrupt from None
        finally:
            if trainer.run_dir is not None:
                trial.set_user_attr("run_dir", str(trainer.run_dir.path))
        return dev_value(trainer.run_dir.path, base.train.es_metric)

    def progress(study, trial) -> None:
        bar.update(1)
        bar.write(finished_line(trial))

    stop_at_total = optuna.study.MaxTrialsCallback(args.trials, states=(optuna.trial.TrialState.COMPLETE,
                                                                        optuna.trial.TrialState.PRUNED))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study.optimize(objective, n_trials=args.trials - done, callbacks=[stop_at_total, progress])
    finally:
        bar.close()


def write_pruned_note(trainer) -> None:
    """results.json of a pruned trial: it says so, with the dev metrics of its last evaluation (no eval)."""
    extras = trainer.results_extras()
    trainer.run_dir.write_results({"pruned": True, "pruned_at_epoch": trainer.pruned_at / trainer.evals_per_epoch,
                                   "dev": trainer.last_dev_metrics, **extras})


def dev_value(run_dir: Path, metric: str) -> float:
    """The final model's dev value of the selection metric, from the results.json the trial just wrote."""
    try:
        return float(read_results(run_dir)["dev"][metric])
    except (DamagedState, KeyError, TypeError, ValueError) as problem:
        raise UserError(f"{run_dir}/results.json: no dev {metric} ({problem})") from None


def report_best(optuna, study, args, base: Config, space: dict, folder: Path) -> None:
    """The best trial, its config as a YAML file for the trainers, and the seeds of --repeat-best."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        print("no trial has completed yet (all pruned or failed): nothing to report", flush=True)
        return
    best = study.best_trial
    config = trial_config(base, best.params)
    shown_params = ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
                             for key, value in best.params.items())
    print(f"best trial {best.number}: dev {base.train.es_metric} {best.value:.4f}; {shown_params}")
    print(f"  run: {best.user_attrs.get('run_dir')}")
    best_file = folder / "best-config.yaml"
    if args.config is not None and best_file.resolve() == args.config.resolve():
        best_file = folder / f"best-config-{len(study.trials)}.yaml"  # never overwrite the input
    header = (f"# The best of study {args.study!r} ({best.value:.4f} dev {base.train.es_metric}, trial {best.number})."
              f"\n#   python {'train_multi_label.py' if base.data.multi_label else 'train_expert.py'} --config "
              f"{best_file}\n")
    atomic_write(best_file, header + yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))
    print(f"best config: {best_file}")
    if args.repeat_best:
        repeat_best(config, args, folder)


def repeat_best(config: Config, args, folder: Path) -> None:
    """Run the best config with N new seeds (runs in <sweep folder>/best/) and print mean +- std on eval."""
    from koelectra_cookbook.experiments.sweep_trial import ExpertTrial, MultiLabelTrial

    trainer_class = MultiLabelTrial if config.data.multi_label else ExpertTrial
    runs = []
    for offset in range(1, args.repeat_best + 1):
        seeded = trial_config(config, {"train.seed": (config.train.seed + offset) % 2**32})
        runs.append(trainer_class(seeded, folder / "best", None, args.evals_per_epoch).run())
    print(repeat_summary(runs, config.train.metrics), flush=True)
    sys.stdout.flush()
