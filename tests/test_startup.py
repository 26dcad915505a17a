"""Every script answers --help, a mistyped argument and a config error before torch, transformers or accelerate
load (they take seconds), and so within a second or two. Checked on what the process imported (`python -X
importtime` lists every module), not on a clock; the time bound is generous and only catches a hang."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from koelectra_cookbook.config.levels import LEVELS
from koelectra_cookbook.paths import PROJECT_ROOT

HEAVY = ("torch", "transformers", "accelerate", "sklearn", "pandas", "matplotlib", "optuna", "gradio")
SCRIPTS = ["train_beginner.py", "train_intermediate.py", "train_expert.py", "train_multi_label.py", "predict.py",
           "sweep.py", "compare.py", "app.py", "audit.py"]


def run(script: str, *args: str) -> tuple[subprocess.CompletedProcess, set[str], float]:
    """The script's outcome, the heavy packages it imported, and the seconds it took."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-X", "importtime", str(PROJECT_ROOT / script), *args],
                          capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - start
    imported = set(re.findall(r"^import time:.*\|\s*(\S+)$", done.stderr, flags=re.M))
    return done, imported & set(HEAVY), seconds


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if not line.startswith("import time:")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_loads_no_heavy_library(script):
    done, heavy, seconds = run(script, "--help")
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr[-2000:]
    assert not heavy, f"{script} --help imported {sorted(heavy)}"
    assert seconds < 30


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_unknown_argument_is_one_error_line_before_any_heavy_library(script):
    done, heavy, _ = run(script, "--bogus")
    assert done.returncode == 2 and len(error_lines(done)) == 1 and error_lines(done)[0].startswith("error:")
    assert not heavy, f"{script} --bogus imported {sorted(heavy)}"


@pytest.mark.parametrize("args, message", [
    (["--set", "train.lr=1e-4"], "unknown key train.lr (did you mean train.learning_rate?)"),
    (["--demo", "--set", "train.lr=1e-4"], "unknown key train.lr (did you mean train.learning_rate?)"),
    (["--demo", "--set", "train.epochs=0"], "train.epochs must be at least 1"),
    (["--set", "train.epochs=0"], "train.epochs must be at least 1"),
    (["--set", "train.loss=bce"], "loss 'bce' does not support single-label tasks"),
    (["--config", "missing.yaml"], "config file not found"),
])
def test_a_config_error_is_said_before_any_heavy_library(args, message, tmp_path):
    if args[0] == "--config":
        args = ["--config", str(tmp_path / args[1])]
    else:
        args = ["--task", "nsmc", *args]
    done, heavy, _ = run("train_expert.py", *args)
    assert done.returncode == 2 and message in error_lines(done)[0], done.stderr[-2000:]
    assert not heavy, f"a config error imported {sorted(heavy)}"
    assert "tokenizers" not in re.findall(r"\|\s*(\S+)$", done.stderr, flags=re.M)  # the demo model is not built


def test_the_levels_known_before_import_are_the_trainer_classes():
    """config/levels.py says what each level is before its module is imported: it must agree with the classes."""
    from koelectra_cookbook.config.levels import import_trainer

    for name, level in LEVELS.items():
        trainer = import_trainer(level)
        assert trainer.level == name and trainer.supports_resume == level.resumable
        assert trainer.multi_label == level.multi_label
        assert getattr(trainer, "default_loss", None) == level.loss
        assert (PROJECT_ROOT / level.script).is_file() and f'"{name}"' in (PROJECT_ROOT / level.script).read_text()


def test_hugging_face_trainer_flags_set_their_config_keys_and_set_wins():
    from koelectra_cookbook.commands.arguments import TRAINER_ALIASES, parse_args
    from koelectra_cookbook.config.resolve import resolve_config

    args = parse_args("", ["--task", "nsmc", "--learning_rate", "1e-4", "--num_train_epochs", "2",
                           "--per_device_train_batch_size", "8", "--max_seq_length", "64", "--seed", "7", "--bf16",
                           "--output_dir", "elsewhere", "--set", "train.seed=9"], resumable=True)
    config = resolve_config(args)
    assert (config.train.learning_rate, config.train.epochs, config.train.batch_size) == (1e-4, 2, 8)
    assert config.model.max_seq_len == 64 and config.train.mixed_precision == "bf16"
    assert config.train.seed == 9 and str(args.output_dir) == "elsewhere"  # the explicit --set wins
    keys = {key for key in TRAINER_ALIASES.values()}
    for key in keys:  # every alias names a real config key
        section, name = key.split(".")
        assert hasattr(getattr(config, section), name), key


def test_help_lists_examples_one_per_line_and_help_config_every_key_with_its_default():
    import dataclasses
    import typing

    from koelectra_cookbook.commands.arguments import yaml_value
    from koelectra_cookbook.config.schema import Config

    done, _, _ = run("train_expert.py", "--help")
    assert "\n    python train_expert.py --task nsmc --demo\n" in done.stdout and "--help-config" in done.stdout
    assert "--learning_rate VALUE" in done.stdout
    done, heavy, _ = run("train_expert.py", "--help-config")
    assert done.returncode == 0 and not heavy
    listed = done.stdout
    for section_name, section in typing.get_type_hints(Config).items():
        if dataclasses.is_dataclass(section):
            for knob in dataclasses.fields(section):
                assert knob.metadata["help"], knob.name
                assert f"  {section_name}.{knob.name} = {yaml_value(knob.default)}" in listed
                assert knob.metadata["help"] in listed


def test_a_finished_run_says_what_to_do_next_and_a_tiny_dev_split_is_named(tmp_path, tiny_model_dir, capsys):
    from helpers import run_cli

    from koelectra_cookbook.paths import SAMPLES_DIR

    status, run = run_cli("beginner", "--task", "nsmc", "--output-dir", str(tmp_path / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                          "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.max_steps=2")
    out = capsys.readouterr().out.strip().splitlines()
    assert status == 0 and out[-1] == f"run: {run}"  # the contract: the run line stays last
    assert f"next: python predict.py --model {run / 'model'} --input texts.txt" in "\n".join(out[-5:])
    assert any("dev: 30 rows are too few to choose a model on" in line for line in out)
    assert any("ratings_test.txt: 1 row with empty text dropped (line 82)" in line for line in out)
