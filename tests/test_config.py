"""Config layers: --set parsing, key and type checks with helpful messages, value rules, and the shipped YAMLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from koelectra_cookbook.commands.train import parse_args
from koelectra_cookbook.config.resolve import resolve_config
from koelectra_cookbook.config.parsing import parse_overrides
from koelectra_cookbook.config.schema import Config, build_config
from koelectra_cookbook.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def build(**sections) -> Config:
    return build_config([("test", {"task": "mytask", **sections})])


def build_error(**sections) -> str:
    with pytest.raises(UserError) as info:
        build(**sections)
    return str(info.value)


# --- parse_overrides -----------------------------------------------------------------------------------

def test_parse_overrides_parses_yaml_values():
    assert parse_overrides([
        "train.epochs=3",
        "train.learning_rate=0.0005",
        "train.es_min_delta=1.5e-3",
        "data.labels=[neg, pos]",
        "data.max_train_samples=null",
        "data.max_eval_samples=",
        "data.text_column=a=b",
        "model.name_or_path=monologg/koelectra-small-v3-discriminator",
        "data.download=false",
    ]) == {
        "train": {"epochs": 3, "learning_rate": 0.0005, "es_min_delta": 0.0015},
        "data": {"labels": ["neg", "pos"], "max_train_samples": None, "max_eval_samples": None,
                 "text_column": "a=b", "download": False},
        "model": {"name_or_path": "monologg/koelectra-small-v3-discriminator"},
    }


def test_parse_overrides_later_assignment_wins_and_sections_merge():
    assert parse_overrides(["train.epochs=1", "train.batch_size=8", "train.epochs=2"]) == {
        "train": {"epochs": 2, "batch_size": 8}}


@pytest.mark.parametrize("assignment", ["train.epochs", "=3", " =3"])
def test_parse_overrides_rejects_assignment_without_key_or_equals(assignment):
    with pytest.raises(UserError, match="expected dotted.key=value"):
        parse_overrides([assignment])


def test_parse_overrides_rejects_invalid_yaml_value():
    with pytest.raises(UserError, match="not valid YAML"):
        parse_overrides(["data.labels=[a, b"])


def test_overrides_go_through_build_config():
    config = build_config([("defaults", {"task": "mytask"}),
                           ("--set", parse_overrides(["train.epochs=1", "data.labels=[0, 1]", "train.metrics=accuracy"]))])
    assert config.train.epochs == 1
    assert config.data.labels == ["0", "1"]
    assert config.train.metrics == ["accuracy"]


def test_exponent_without_dot_is_a_number():
    # PyYAML (YAML 1.1) reads 2e-5 as a string; a float key must still take it as the number.
    config = build_config([("--set", parse_overrides(["train.learning_rate=2e-5", "train.es_min_delta=1e-3"]))])
    assert config.train.learning_rate == pytest.approx(2e-5)
    assert config.train.es_min_delta == pytest.approx(1e-3)


def test_mixed_precision_no_unquoted():
    config = build_config([("--set", parse_overrides(["train.mixed_precision=no"]))])
    assert config.train.mixed_precision == "no"


# --- build_config: keys and types ------------------------------------------------------------------------

@pytest.mark.parametrize("sections, wrong, suggestion", [
    ({"train": {"learnig_rate": 1e-4}}, "train.learnig_rate", "train.learning_rate"),
    ({"train": {"epoch": 1}}, "train.epoch", "train.epochs"),
    ({"data": {"dev_splt": 0.1}}, "data.dev_splt", "data.dev_split"),
    ({"model": {"max_seq_length": 64}}, "model.max_seq_length", "model.max_seq_len"),
    ({"trian": {"epochs": 1}}, "trian", "train"),
    ({"train": {"lr": 1e-4}}, "train.lr", "train.learning_rate"),  # shortened as users shorten it
    ({"train": {"bs": 8}}, "train.bs", "train.batch_size"),
])
def test_unknown_key_names_the_nearest_valid_key(sections, wrong, suggestion):
    message = build_error(**sections)
    assert message.startswith("test:")
    assert f"unknown key {wrong}" in message
    assert f"did you mean {suggestion}?" in message


def test_unknown_key_with_nothing_close_lists_the_valid_keys():
    message = build_error(model={"zzzzzz": 1})
    assert "unknown key model.zzzzzz" in message and "model.name_or_path" in message


def test_section_given_as_a_scalar():
    assert "must be a section" in build_error(train=3)


@pytest.mark.parametrize("section, key, value", [
    ("train", "epochs", "three"),
    ("train", "batch_size", "32"),
    ("train", "learning_rate", [1e-4, 2e-4]),
    ("train", "learning_rate", "fast"),
    ("train", "epochs", True),
    ("train", "batch_size", False),
    ("train", "epochs", 2.5),
    ("data", "dev_split", True),
    ("data", "labels", {"a": 1}),
    ("data", "download", "yes please"),
    ("model", "name_or_path", ["a", "b"]),
    ("train", "epochs", None),
])
def test_wrong_type_is_rejected_naming_the_key(section, key, value):
    message = build_error(**{section: {key: value}})
    assert message.startswith("test:")
    assert f"{section}.{key}" in message


@pytest.mark.parametrize("section, key, value", [
    ("train", "batch_size", 0),
    ("train", "learning_rate", 0),
    ("train", "learning_rate", -1e-5),
    ("model", "max_seq_len", 4),
    ("data", "dev_split", 1.0),
    ("data", "dev_split", -0.1),
    ("train", "warmup_ratio", 1.5),
    ("train", "mixed_precision", "fp8"),
    ("train", "gradient_accumulation_steps", 0),
    ("train", "epochs", 0),
    ("data", "max_train_samples", 0),
    ("data", "format", "xlsx"),
    ("data", "labels", ["only"]),
    ("data", "labels", [1, "1.0"]),
    ("model", "attn_implementation", "flash"),
])
def test_impossible_values_are_rejected_naming_the_key(section, key, value):
    message = build_error(**{section: {key: value}})
    assert message.startswith(f"config: {section}.{key}")
    assert repr(value) in message or key == "labels"


def test_label_names_need_matching_labels():
    assert "data.label_names" in build_error(data={"label_names": ["a", "b"]})
    assert "data.label_names" in build_error(data={"labels": [0, 1], "label_names": ["a"]})


def test_int_is_accepted_where_a_float_is_expected():
    config = build(train={"learning_rate": 1, "warmup_ratio": 0, "max_grad_norm": 1}, data={"dev_split": 0})
    assert config.train.learning_rate == 1.0 and isinstance(config.train.learning_rate, float)
    assert isinstance(config.train.warmup_ratio, float)
    assert isinstance(config.data.dev_split, float) and config.data.dev_split == 0


def test_single_metric_string_becomes_a_list():
    assert build(train={"metrics": "accuracy"}).train.metrics == ["accuracy"]
    assert build(train={"metrics": ["accuracy", "macro_f1"]}).train.metrics == ["accuracy", "macro_f1"]


def test_labels_are_normalised_to_text():
    assert build(data={"labels": [0, 1.0, "2"]}).data.labels == ["0", "1", "2"]


def test_later_layers_override_earlier_ones_and_defaults_remain():
    config = build_config([("a", {"task": "x", "train": {"epochs": 5, "batch_size": 4}}),
                           ("b", {"train": {"epochs": 1}})])
    assert config.task == "x"
    assert config.train.epochs == 1 and config.train.batch_size == 4
    assert config.train.learning_rate == Config().train.learning_rate


def test_error_names_the_layer_it_came_from():
    with pytest.raises(UserError, match=r"^my\.yaml: unknown key train\.epohcs"):
        build_config([("defaults", {"task": "x"}), ("my.yaml", {"train": {"epohcs": 1}})])


# --- the shipped YAML files -----------------------------------------------------------------------------

YAML_FILES = sorted(CONFIG_DIR.glob("*.yaml")) if CONFIG_DIR.is_dir() else []


@pytest.mark.skipif(not YAML_FILES, reason="no config/*.yaml yet")
@pytest.mark.parametrize("path", YAML_FILES, ids=[p.name for p in YAML_FILES])
def test_shipped_yaml_loads_and_validates(path):
    config = resolve_config(parse_args("doc", ["--config", str(path)], resumable=False))
    assert config.task
    assert config.data.dir
    assert config.train.metrics and config.train.es_metric
    # Keys the design requires by name exist in every resolved config.
    flat = config.to_dict()
    for dotted in ("model.name_or_path", "model.max_seq_len", "data.dir", "data.dev_split", "data.max_train_samples",
                   "data.max_eval_samples", "train.epochs", "train.max_steps", "train.batch_size",
                   "train.learning_rate", "train.seed", "train.warmup_ratio", "train.gradient_accumulation_steps",
                   "train.max_grad_norm", "train.es_metric", "train.es_patience", "train.es_min_delta"):
        section, key = dotted.split(".")
        assert key in flat[section], dotted


@pytest.mark.skipif(not YAML_FILES, reason="no config/*.yaml yet")
@pytest.mark.parametrize("task", ["nsmc", "ynat"])
def test_builtin_task_reads_its_yaml(task):
    if not (CONFIG_DIR / f"{task}.yaml").is_file():
        pytest.skip(f"no config/{task}.yaml")
    config = resolve_config(parse_args("doc", ["--task", task, "--set", "train.epochs=1"], resumable=False))
    assert config.task == task and config.train.epochs == 1
    assert config.data.train_file and config.data.eval_file and config.data.labels


def test_null_drops_the_dev_file_a_built_in_task_names():
    """`--set data.dev_file=null` is how a user says "no dev file" (YAML's word for none), as '' is."""
    from koelectra_cookbook.config.parsing import parse_overrides

    for value in ["null", '""']:
        config = build_config([("defaults", {"task": "korsts", "data": {"dev_file": "sts-dev.tsv"}}),
                               ("--set", parse_overrides([f"data.dev_file={value}"]))])
        assert config.data.dev_file == ""
