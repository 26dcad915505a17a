"""Bad input at the command line: exit status 2, one `error: ...` line on stderr, no traceback, no run directory.

The errors under test come before any training, so no real model is needed; where the order of checks loads the
tokenizer first, a tiny random ELECTRA built into a temp dir stands in. Nothing touches the network.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from koelectra_cookbook.commands.train import main
from koelectra_cookbook.classifier.tiny import build_tiny_electra
from koelectra_cookbook.trainers.beginner import BeginnerTrainer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "좋", "##아", "##요", "싫", "##어", "영", "##화",
         "별", "##로"] + [str(d) for d in range(10)] + [f"##{d}" for d in range(10)]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_electra(tmp_path_factory.mktemp("tiny") / "m", VOCAB, hidden_size=32, num_layers=1,
                              num_heads=2)


def run_cli(argv, capsys, output_dir: Path) -> tuple[int, str]:
    """Run the beginner script; return its exit status and its single stderr line (asserting the contract)."""
    capsys.readouterr()
    status = main(BeginnerTrainer, "doc", [*argv, "--output-dir", str(output_dir)])
    captured = capsys.readouterr()
    assert status == 2, (captured.out, captured.err)
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    return status, lines[0]


def assert_no_run_directory(output_dir: Path):
    created = [p for p in output_dir.rglob("*")] if output_dir.exists() else []
    assert created == [], f"run directory created before the error: {created}"


def write_yaml(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content, allow_unicode=True), encoding="utf-8")
    return path


def write_data(folder: Path, train: str = "text,label\n좋아요 1,1\n싫어 2,0\n좋아요 3,1\n싫어 4,0\n",
               evaluation: str = "text,label\n별로,0\n영화,1\n", encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.csv").write_bytes(train.encode(encoding))
    (folder / "eval.csv").write_bytes(evaluation.encode(encoding))
    return folder


def custom_config(tmp_path: Path, model: Path | str, data_dir: Path, **data) -> Path:
    return write_yaml(tmp_path / "my.yaml", {
        "task": "mytask",
        "model": {"name_or_path": str(model), "max_seq_len": 16},
        "data": {"dir": str(data_dir), "train_file": "train.csv", "eval_file": "eval.csv",
                 "cache_dir": str(tmp_path / "cache"), "dev_split": 0, **data},
        "train": {"epochs": 1, "batch_size": 2},
    })


# --- errors found while building the config ----------------------------------------------------------------

def test_unknown_task_name(tmp_path, capsys):
    out = tmp_path / "runs"
    _, line = run_cli(["--task", "nsmcc"], capsys, out)
    assert "unknown task 'nsmcc'" in line and "nsmc" in line
    assert_no_run_directory(out)


def test_missing_config_file(tmp_path, capsys):
    out = tmp_path / "runs"
    missing = tmp_path / "nope.yaml"
    _, line = run_cli(["--config", str(missing)], capsys, out)
    assert str(missing) in line and "not found" in line
    assert_no_run_directory(out)


def test_yaml_syntax_error(tmp_path, capsys):
    out = tmp_path / "runs"
    path = tmp_path / "broken.yaml"
    path.write_text("task: mytask\ndata:\n  dir: [unclosed\n  train_file: a.csv\n", encoding="utf-8")
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert str(path) in line and "not valid YAML" in line
    assert_no_run_directory(out)


def test_yaml_that_is_not_a_mapping(tmp_path, capsys):
    out = tmp_path / "runs"
    path = tmp_path / "list.yaml"
    path.write_text("- task\n- mytask\n", encoding="utf-8")
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert str(path) in line
    assert_no_run_directory(out)


def test_yaml_without_task(tmp_path, capsys):
    out = tmp_path / "runs"
    path = write_yaml(tmp_path / "notask.yaml", {"data": {"dir": str(tmp_path)}})
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert str(path) in line and "task" in line
    assert_no_run_directory(out)


def test_typo_key_in_yaml_names_file_and_suggestion(tmp_path, capsys):
    out = tmp_path / "runs"
    path = write_yaml(tmp_path / "typo.yaml", {"task": "mytask", "data": {"dir": str(tmp_path)},
                                               "train": {"batchsize": 8}})
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert str(path) in line and "train.batchsize" in line and "did you mean train.batch_size?" in line
    assert_no_run_directory(out)


def test_typo_key_in_set(tmp_path, capsys):
    out = tmp_path / "runs"
    _, line = run_cli(["--task", "nsmc", "--set", "train.epohcs=1"], capsys, out)
    assert "--set" in line and "train.epohcs" in line and "did you mean train.epochs?" in line
    assert_no_run_directory(out)


def test_set_without_equals(tmp_path, capsys):
    out = tmp_path / "runs"
    _, line = run_cli(["--task", "nsmc", "--set", "train.epochs"], capsys, out)
    assert "'train.epochs'" in line and "key=value" in line
    assert_no_run_directory(out)


def test_set_wrong_type(tmp_path, capsys):
    out = tmp_path / "runs"
    _, line = run_cli(["--task", "nsmc", "--set", "train.batch_size=many"], capsys, out)
    assert "train.batch_size" in line and "'many'" in line
    assert_no_run_directory(out)


@pytest.mark.parametrize("overrides, expected", [
    (["train.learning_rate=0"], "train.learning_rate"),
    (["train.metrics=[accuracy, f2]", "train.es_metric=loss"], "'f2'"),
    (["train.metrics=[accuracy]", "train.es_metric=macro_f1"], "train.es_metric"),
], ids=["impossible value", "unknown metric", "es_metric not among metrics"])
def test_config_value_errors_name_the_key(tmp_path, capsys, overrides, expected):
    out = tmp_path / "runs"
    argv = ["--task", "nsmc"]
    for override in overrides:
        argv += ["--set", override]
    _, line = run_cli(argv, capsys, out)
    assert expected in line
    assert_no_run_directory(out)


# --- errors found when loading the model or the data ---------------------------------------------------------

def test_model_directory_that_does_not_exist(tmp_path, capsys):
    out = tmp_path / "runs"
    missing = tmp_path / "no-such-model"
    path = custom_config(tmp_path, missing, write_data(tmp_path / "data"))
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert "model.name_or_path" in line and str(missing) in line
    assert_no_run_directory(out)


def test_data_dir_that_does_not_exist(tmp_path, capsys, tiny_model):
    out = tmp_path / "runs"
    missing = tmp_path / "no-such-data"
    path = custom_config(tmp_path, tiny_model, missing)
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert str(missing) in line and "is not a folder" in line
    assert_no_run_directory(out)


def test_bad_label_in_data_file_names_file_and_line(tmp_path, capsys, tiny_model):
    out = tmp_path / "runs"
    data_dir = write_data(tmp_path / "data", train="text,label\n좋아요,1\n싫어,0\n별로,maybe\n")
    path = custom_config(tmp_path, tiny_model, data_dir, labels=[0, 1])
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert line.startswith(f"error: {data_dir / 'train.csv'}:4:") and "'maybe'" in line
    assert_no_run_directory(out)


def test_cp949_data_file_suggests_the_encoding(tmp_path, capsys, tiny_model):
    out = tmp_path / "runs"
    data_dir = write_data(tmp_path / "data", encoding="cp949")
    path = custom_config(tmp_path, tiny_model, data_dir)
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert line.startswith(f"error: {data_dir / 'train.csv'}:2:") and "data.encoding: cp949" in line
    assert_no_run_directory(out)


def test_missing_column_in_data_file(tmp_path, capsys, tiny_model):
    out = tmp_path / "runs"
    data_dir = write_data(tmp_path / "data", train="document,label\n좋아요,1\n싫어,0\n")
    path = custom_config(tmp_path, tiny_model, data_dir)
    _, line = run_cli(["--config", str(path)], capsys, out)
    assert line.startswith(f"error: {data_dir / 'train.csv'}:1:") and "'text'" in line and "document" in line
    assert_no_run_directory(out)
