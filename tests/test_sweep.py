"""sweep.py: the search space is checked before anything runs, trials are ordinary runs chosen on the dev
split, a study continues to --trials in all, pruned trials end cleanly, and two processes share one study."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from koelectra_cookbook.commands.train import parse_args
from koelectra_cookbook.config.resolve import resolve_config
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR
from koelectra_cookbook.files.safe_json import read_json
from koelectra_cookbook.runs.reader import read_metrics
from koelectra_cookbook.commands.sweep import main
from koelectra_cookbook.experiments.sweep_space import check_space

SPACE = {"train.learning_rate": {"low": 1e-4, "high": 3e-3, "log": True}, "train.batch_size": [8, 16]}


def write_config(tmp_path: Path, model_dir: Path, space=SPACE) -> Path:
    """A sweep over the bundled NSMC samples with a tiny model; each trial takes 2 steps and 2 evaluations."""
    config = {"task": "nsmc", "model": {"name_or_path": str(model_dir)},
              "data": {"dir": str(SAMPLES_DIR / "nsmc"), "download": False, "cache_dir": str(tmp_path / "cache"),
                       "max_eval_samples": 20},
              "train": {"max_steps": 2, "epochs": 1, "save_total_limit": 1}}
    if space is not None:
        config["sweep"] = space
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def sweep(config: Path, out: Path, *extra: str) -> int:
    return main(["--config", str(config), "--output-dir", str(out), "--evals-per-epoch", "20", *extra])


def finished(storage: Path) -> list:
    study = optuna.load_study(study_name="default", storage=f"sqlite:///{storage}")
    return study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))


@pytest.fixture
def base_config(tmp_path, tiny_model_dir):
    return resolve_config(parse_args("", ["--config", str(write_config(tmp_path, tiny_model_dir))], False))


@pytest.mark.parametrize("space, message", [
    ({"train.learnig_rate": {"low": 1e-5, "high": 1e-4}}, "unknown key train.learnig_rate (did you mean "
                                                          "train.learning_rate?)"),
    ({"train.learning_rate": {"low": 1e-4, "high": 1e-5}}, "low (0.0001) must be below high (1e-05)"),
    ({"train.learning_rate": {"low": 0, "high": 1e-4, "log": True}}, "a log range needs low > 0"),
    ({"train.learning_rate": {"low": 1e-5, "hgh": 1e-4}}, "unknown range key 'hgh' (did you mean high?)"),
    ({"train.learning_rate": {"low": "abc", "high": 1e-4}}, "low must be a finite number"),
    ({"train.warmup_ratio": {"low": 0.0, "high": 1.5}}, "the value 1.5 is not allowed: config: train.warmup_ratio "
                                                        "must be in [0, 1)"),
    ({"train.batch_size": {"low": 8, "high": 32.5}}, "high must be an integer"),
    ({"train.batch_size": []}, "a list of choices needs 1 to 1000 values"),
    ({"train.lr_schedule": {"low": 0, "high": 1}}, "a range needs a number key"),
    ({"train.pos_weight": ["balanced"]}, "train.pos_weight and train.threshold are for multi-label data"),
    ([1, 2], "sweep must be a mapping"),
])
def test_a_bad_search_space_is_one_clear_error(base_config, space, message):
    with pytest.raises(UserError) as error:
        check_space(space, base_config, "my.yaml")
    assert message in str(error.value) and str(error.value).startswith("my.yaml: sweep")


def test_a_good_space_is_kept_and_integer_fields_get_integer_ranges(base_config):
    space = check_space({"train.epochs": {"low": 1, "high": 3}, "train.learning_rate": {"low": "1e-5", "high": 1e-4},
                         "train.batch_size": [8, 16]}, base_config, "my.yaml")
    assert space["train.epochs"] == {"low": 1, "high": 3, "log": False, "step": None, "integer": True}
    assert space["train.learning_rate"]["low"] == 1e-5 and not space["train.learning_rate"]["integer"]
    assert space["train.batch_size"] == [8, 16]


def test_bad_space_stops_the_cli_before_anything_runs(tmp_path, tiny_model_dir, capsys):
    config = write_config(tmp_path, tiny_model_dir, {"train.learning_rate": {"low": 1e-4}})
    assert sweep(config, tmp_path / "runs", "--trials", "2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {config}: sweep: train.learning_rate: a range needs low and high (missing high)"]
    assert not (tmp_path / "runs").exists()


def test_push_to_hub_is_refused_by_a_sweep_before_anything_runs(tmp_path, tiny_model_dir, capsys):
    assert sweep(write_config(tmp_path, tiny_model_dir), tmp_path / "runs", "--push-to-hub", "someone/x") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "python -m koelectra_cookbook.commands.push" in err[0] and not (tmp_path / "runs").exists()


def test_the_trainers_ignore_the_sweep_section(tmp_path, tiny_model_dir):
    config = resolve_config(parse_args("", ["--config", str(write_config(tmp_path, tiny_model_dir))], True))
    assert config.train.max_steps == 2 and not hasattr(config, "sweep")


def test_missing_optuna_is_one_line_naming_the_extra(tmp_path, tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    assert sweep(write_config(tmp_path, tiny_model_dir), tmp_path / "runs", "--trials", "1") == 2
    assert capsys.readouterr().err.strip().splitlines() == ['error: sweep.py needs Optuna: pip install -e ".[sweep]"']


def test_sweep_continues_to_the_total_chooses_on_dev_and_repeats_the_best(tmp_path, tiny_model_dir, capsys):
    config, out = write_config(tmp_path, tiny_model_dir), tmp_path / "runs"
    folder = out / "nsmc" / "sweep-default"
    assert sweep(config, out, "--trials", "2") == 0
    assert len(finished(folder / "study.db")) == 2
    # A killed sweep leaves its running trial RUNNING: it must not count as finished.
    study = optuna.load_study(study_name="default", storage=f"sqlite:///{folder / 'study.db'}")
    study.ask()
    assert sweep(config, out, "--trials", "3") == 0
    printed = capsys.readouterr().out
    assert "2 of 3 trials finished" in printed and printed.count("trial 3 complete") == 1
    trials = finished(folder / "study.db")
    assert len(trials) == 3 and len(study.get_trials()) == 4
    for trial in trials:  # each trial is an ordinary run whose value is its dev metric (never the eval file)
        results = read_json(Path(trial.user_attrs["run_dir"]) / "results.json")
        assert trial.value == results["dev"]["accuracy"] and "eval" in results
        assert Path(trial.user_attrs["run_dir"]).parent == folder
    best = yaml.safe_load((folder / "best-config.yaml").read_text(encoding="utf-8"))
    best_trial = max(trials, key=lambda t: t.value)
    assert best["train"]["learning_rate"] == pytest.approx(best_trial.params["train.learning_rate"])
    assert resolve_config(parse_args("", ["--config", str(folder / "best-config.yaml")], True)).task == "nsmc"

    # Again: no trial left to run; the best config is run with 2 new seeds, reported as mean +- std.
    assert sweep(config, out, "--trials", "3", "--repeat-best", "2") == 0
    printed = capsys.readouterr().out
    assert "3 of 3 trials finished" in printed and "trial " not in printed.replace("best trial", "")
    summary = printed.split("best config over 2 seeds")[1].splitlines()
    assert summary[1].startswith("  eval: accuracy ") and " ± " in summary[1]
    seeds = sorted(read_json(run / "run.json")["config"]["train"]["seed"] for run in (folder / "best").iterdir())
    assert seeds == [43, 44] and len(finished(folder / "study.db")) == 3

    # Another config does not continue this study.
    assert sweep(config, out, "--trials", "4", "--set", "train.weight_decay=0.5") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was started with another config" in err[0] and "train.weight_decay" in err[0]


def test_pruned_trials_end_cleanly_and_say_so(tmp_path, tiny_model_dir, capsys, monkeypatch):
    # A pruner that prunes every trial at its first report: the path a median-pruned trial takes.
    monkeypatch.setattr(optuna.pruners, "MedianPruner", lambda **_: optuna.pruners.ThresholdPruner(lower=2.0))
    config, out = write_config(tmp_path, tiny_model_dir), tmp_path / "runs"
    assert sweep(config, out, "--trials", "1", "--repeat-best", "1") == 0
    printed = capsys.readouterr().out
    assert "trial 0 pruned at evaluation 1" in printed and "no trial has completed yet" in printed
    [trial] = finished(out / "nsmc" / "sweep-default" / "study.db")
    run = Path(trial.user_attrs["run_dir"])
    results = read_json(run / "results.json")
    assert results["pruned"] is True and "eval" not in results and "accuracy" in results["dev"]
    assert not (run / "model").exists() and (run / "metrics.csv").is_file()


def test_two_processes_share_one_sqlite_study(tmp_path, tiny_model_dir):
    config, out = write_config(tmp_path, tiny_model_dir), tmp_path / "runs"
    command = [sys.executable, str(PROJECT_ROOT / "sweep.py"), "--config", str(config), "--output-dir", str(out),
               "--evals-per-epoch", "20", "--trials", "2"]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}
    workers = [subprocess.Popen(command + ["--sampler-seed", str(seed)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    trials = finished(out / "nsmc" / "sweep-default" / "study.db")
    # Each process stops once 2 are finished; the other's trial in flight may still finish (one extra at most).
    assert 2 <= len(trials) <= 3
    run_dirs = {trial.user_attrs["run_dir"] for trial in trials}
    assert len(run_dirs) == len(trials)
    for stdout, _ in outputs:  # both worked on the study
        assert any(line.startswith("trial ") for line in stdout.splitlines()), stdout


def test_an_unusable_storage_is_one_error_without_its_password(tmp_path, tiny_model_dir, capsys):
    config = write_config(tmp_path, tiny_model_dir)
    assert sweep(config, tmp_path / "runs", "--storage", "nosuchdb://optuna:secret@localhost/optuna") == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --storage 'nosuchdb://optuna:***@localhost/optuna': cannot open it")
    assert "secret" not in line


@pytest.mark.parametrize("batches", [10, 37, 4])
def test_trials_and_repeats_evaluate_at_the_same_shares_of_each_epoch(monkeypatch, batches):
    from koelectra_cookbook.trainers.intermediate import IntermediateTrainer
    from koelectra_cookbook.experiments.sweep_trial import ExpertTrial

    monkeypatch.setattr(IntermediateTrainer, "on_evaluate_end", lambda self, metrics: None)  # its bookkeeping
    trainer = ExpertTrial.__new__(ExpertTrial)  # only the loop counters the schedule reads
    trainer.evaluating, trainer.evals_per_epoch, trainer.evaluated_mark, trainer.trial = True, 4, 0, None
    trainer.train_loader, trainer.epoch = range(batches), 0
    evaluated = []
    for _ in range(2):
        for trainer.batch_in_epoch in range(1, batches + 1):
            if trainer.should_evaluate("step"):
                evaluated.append(trainer.epoch + trainer.batch_in_epoch / batches)
                trainer.on_evaluate_end({})
        trainer.epoch, trainer.batch_in_epoch = trainer.epoch + 1, 0
        assert not trainer.should_evaluate("epoch")
    # Two epochs, four evaluations each, each at the first batch that completes a quarter of the epoch.
    assert len(evaluated) == 8
    assert [int(progress * 4) for progress in evaluated] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(progress - mark / 4 < 1 / batches for progress, mark in zip(evaluated, range(1, 9)))


def test_the_default_spaces_are_valid_for_their_tasks(tmp_path, tiny_model_dir):
    from koelectra_cookbook.experiments.sweep_space import default_space

    # sentence pairs (kornli, klue-nli) and regression (korsts, klue-sts) share the single-text space
    for task, multi_label in (("nsmc", False), ("ynat", False), ("unsmile", True), ("kornli", False),
                              ("korsts", False), ("klue-nli", False), ("klue-sts", False)):
        argv = ["--task", task, "--set", f"data.dir={SAMPLES_DIR / task}", "--set", f"model.name_or_path={tiny_model_dir}"]
        base = resolve_config(parse_args("", argv, False))
        assert base.data.multi_label == multi_label
        for demo in (False, True):
            space = check_space(default_space(multi_label, demo), base, "default")
            assert ("train.pos_weight" in space) == multi_label


def test_the_study_direction_follows_is_minimized_for_the_selection_metric(tmp_path, tiny_model_dir):
    """A regression sweep selecting on mse minimises it; one selecting on spearman (KorSTS's headline) maximises."""
    import argparse

    from koelectra_cookbook.classifier.names import LOWER_IS_BETTER, REGRESSION_METRICS, SINGLE_LABEL_METRICS
    from koelectra_cookbook.experiments.sweep import open_study, study_direction
    from koelectra_cookbook.experiments.sweep_space import default_space

    for metric in (*SINGLE_LABEL_METRICS, *REGRESSION_METRICS, *LOWER_IS_BETTER):
        assert study_direction(metric) == ("minimize" if metric in ("loss", "hamming_loss", "mse") else "maximize")
    for metric, direction in (("mse", optuna.study.StudyDirection.MINIMIZE),
                              ("spearman", optuna.study.StudyDirection.MAXIMIZE)):
        argv = ["--task", "korsts", "--set", f"data.dir={SAMPLES_DIR / 'korsts'}",
                "--set", f"model.name_or_path={tiny_model_dir}", "--set", f"train.es_metric={metric}"]
        base = resolve_config(parse_args("", argv, False))
        space = check_space(default_space(False, False), base, "default")
        args = argparse.Namespace(storage=None, study=f"s-{metric}", sampler_seed=None, trials=2, evals_per_epoch=1)
        folder = tmp_path / metric
        folder.mkdir()
        assert open_study(optuna, args, base, space, folder).direction == direction


def test_a_regression_sweep_on_mse_keeps_the_lowest_trial_and_needs_no_dev_split(tmp_path, tiny_model_dir, capsys):
    """KorSTS selecting on mse, with its dev file and data.dev_split 0: the trials run and the best is the lowest."""
    config = {"task": "korsts", "model": {"name_or_path": str(tiny_model_dir)},
              "data": {"dir": str(SAMPLES_DIR / "korsts"), "download": False, "cache_dir": str(tmp_path / "cache"),
                       "dev_split": 0.0, "max_eval_samples": 20},
              "train": {"max_steps": 2, "epochs": 1, "save_total_limit": 1, "metrics": ["mse", "spearman"],
                        "es_metric": "mse"},
              "sweep": SPACE}
    path = tmp_path / "korsts-sweep.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = tmp_path / "runs"
    assert sweep(path, out, "--trials", "2") == 0
    database = out / "korsts" / "sweep-default" / "study.db"
    study = optuna.load_study(study_name="default", storage=f"sqlite:///{database}")
    trials = finished(database)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE and len(trials) == 2
    for trial in trials:
        assert trial.value == read_json(Path(trial.user_attrs["run_dir"]) / "results.json")["dev"]["mse"]
    assert study.best_value == min(trial.value for trial in trials)
    assert f"dev mse {study.best_value:.4f}" in capsys.readouterr().out


def demo_config():
    return resolve_config(parse_args("", ["--task", "nsmc", "--demo"], False))


def test_the_demo_space_spans_the_demo_learning_rate_and_the_pretrained_one_the_yaml_rate():
    from koelectra_cookbook.experiments.sweep_space import default_space

    demo_rate = demo_config().train.learning_rate  # what `make demo` (train_beginner.py --demo) learns with
    pretrained_rate = resolve_config(parse_args("", ["--task", "nsmc"], False)).train.learning_rate
    for multi_label in (False, True):
        demo, pretrained = (default_space(multi_label, flag)["train.learning_rate"] for flag in (True, False))
        assert demo["low"] < demo_rate < demo["high"] and demo["log"]
        assert pretrained["low"] < pretrained_rate < pretrained["high"] and pretrained["high"] < demo_rate


@pytest.mark.slow  # three demo trials: about 25 s of CPU
def test_the_demo_sweep_searches_and_its_best_trial_learns(tmp_path, capsys):
    """`sweep.py --task nsmc --demo --trials 3`, the guides' offline sweep: the trials try different settings, each
    one that completes learns its training rows, and the trial reported best is the one with the highest dev
    accuracy.

    Only what holds whatever the numerics is asserted: a tiny model's dev accuracy on the demo's 30 dev rows moves
    with the CPU's kernels (a faster machine's trials once came out 0.667, 0.667, 0.5), while a training loss that
    falls from ln 2 to a small fraction of it in every trial does not."""
    out = tmp_path / "runs"
    argv = ["--task", "nsmc", "--demo", "--trials", "3", "--output-dir", str(out), "--set", "train.num_threads=1"]
    assert main(argv) == 0
    study = optuna.load_study(study_name="default", storage=f"sqlite:///{out / 'nsmc' / 'sweep-default' / 'study.db'}")
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    assert len(trials) == 3 and len({trial.params["train.learning_rate"] for trial in trials}) == 3
    dev = [read_json(Path(trial.user_attrs["run_dir"]) / "results.json")["dev"]["accuracy"] for trial in trials]
    assert study.best_value == max(dev), dev
    completed = [trial for trial in trials if trial.state == optuna.trial.TrialState.COMPLETE]
    assert study.best_trial in completed
    for trial in completed:  # a pruned trial was stopped early, whenever the others' numerics put the median
        losses = [float(row["train_loss"]) for row in read_metrics(Path(trial.user_attrs["run_dir"]) / "metrics.csv")]
        assert losses[-1] < losses[0] / 4, (trial.number, losses)
    assert f"best trial {study.best_trial.number}: dev accuracy {study.best_value:.4f}" in capsys.readouterr().out
