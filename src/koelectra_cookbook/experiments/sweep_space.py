"""The search space of a sweep: the `sweep:` section of a YAML config, checked before anything runs.

    sweep:
      train.learning_rate: {low: 1.0e-5, high: 1.0e-4, log: true}   # a range of numbers (log scale)
      train.warmup_ratio: {low: 0.0, high: 0.2}                      # a range (uniform)
      train.epochs: {low: 1, high: 3}                                # an integer field gets integers
      train.batch_size: [16, 32]                                     # a list: one of these values

Each key is a dotted config key (as for --set). A range may also give `step` (not with `log`). Without a
`sweep:` section, `default_space` gives a sensible one for the task.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any

from koelectra_cookbook.config.resolve import complete_config
from koelectra_cookbook.config.parsing import did_you_mean, nest
from koelectra_cookbook.config.schema import Config, build_config
from koelectra_cookbook.errors import UserError, shown

RANGE_KEYS = ("low", "high", "log", "step")

# Fine-tuning a pretrained ELECTRA: the learning rates of the ELECTRA paper's range, with or without warmup.
PRETRAINED_SPACE = {
    "train.learning_rate": {"low": 1e-5, "high": 1e-4, "log": True},
    "train.warmup_ratio": {"low": 0.0, "high": 0.2},
    "train.batch_size": [16, 32],
}
# --demo trains a tiny ELECTRA from scratch on 270 rows. Below about 5e-4 it often learns nothing before early
# stopping ends the trial (dev stuck on one class, eval at chance), so a range reaching that low gave tied trials
# and no search. The demo's range spans the 1e-3 its own training uses (resolve.demo_layer, `make demo`) and
# reaches higher, since a trial warms up and decays linearly (config/nsmc.yaml) where the beginner keeps 1e-3.
DEMO_SPACE = {**PRETRAINED_SPACE, "train.learning_rate": {"low": 5e-4, "high": 5e-3, "log": True}}


def default_space(multi_label: bool, demo: bool) -> dict[str, Any]:
    """The search space used when the YAML has no `sweep:` section; multi-label tasks also try pos_weight.
    Sentence pairs (KorNLI, KLUE-NLI) and regression (KorSTS, KLUE-STS) fine-tune in the same learning-rate
    range as single texts (config/kornli.yaml and korsts.yaml train at 5e-5, as nsmc.yaml does), so they share it;
    a regression sweep selecting on mse minimises it (sweep.study_direction)."""
    space = dict(DEMO_SPACE if demo else PRETRAINED_SPACE)
    if multi_label:
        space["train.pos_weight"] = [None, "balanced"]
    return space


def config_keys(schema: type = Config, prefix: str = "") -> dict[str, Any]:
    """Every dotted config key and its type: {"train.learning_rate": float, ...} (task excluded)."""
    keys = {}
    for name, hint in typing.get_type_hints(schema).items():
        if dataclasses.is_dataclass(hint):
            keys.update(config_keys(hint, f"{prefix}{name}."))
        elif prefix:
            keys[f"{prefix}{name}"] = hint
    return keys


def check_space(space: Any, base: Config, source: str) -> dict[str, Any]:
    """The search space if every key names a config key and every range or list is well formed, and every
    value it can produce (the ends of each range, each listed value) makes a valid config; else UserError."""
    if not isinstance(space, dict) or not space:
        raise UserError(f"{source}: sweep must be a mapping of config keys to ranges or lists, got {shown(space)}")
    known = config_keys()
    checked = {}
    for key, rule in space.items():
        if not isinstance(key, str) or key not in known:
            hint = did_you_mean(str(key), known, "keys are dotted, as for --set: train.learning_rate")
            raise UserError(f"{source}: sweep: unknown key {shown(key)[1:-1] if isinstance(key, str) else shown(key)}"
                            f"{hint}")
        where = f"{source}: sweep: {key}"
        checked[key] = check_rule(rule, known[key], where)
        for value in extremes(checked[key]):  # the same checks as --set key=value, before any trial runs
            try:
                complete_config(build_config([("base", base.to_dict()), (where, nest({key: value}))]), where)
            except UserError as problem:
                raise UserError(f"{where}: the value {shown(value)} is not allowed: {problem}") from None
    return checked


def check_rule(rule: Any, hint: Any, where: str) -> Any:
    """A list of choices, or a range {low, high, log?, step?} of numbers for a number field."""
    if isinstance(rule, list):
        if not rule or len(rule) > 1000:
            raise UserError(f"{where}: a list of choices needs 1 to 1000 values, got {shown(rule)}")
        for value in rule:
            if not (value is None or isinstance(value, (bool, int, float, str))):
                raise UserError(f"{where}: a choice must be a number, a string, true/false or null, got {shown(value)}")
        if len({repr(value) for value in rule}) != len(rule):
            raise UserError(f"{where}: the choices {shown(rule)} repeat a value")
        return list(rule)
    if not isinstance(rule, dict):
        raise UserError(f"{where}: expected a range {{low: ..., high: ...}} or a list of values, got {shown(rule)}")
    unknown = [k for k in rule if k not in RANGE_KEYS]
    if unknown:
        raise UserError(f"{where}: unknown range key {shown(unknown[0])}"
                        + did_you_mean(str(unknown[0]), RANGE_KEYS, f"a range has {', '.join(RANGE_KEYS)}"))
    options = typing.get_args(hint) or (hint,)
    integer = int in options and float not in options
    if not integer and float not in options:
        raise UserError(f"{where}: a range needs a number key; give a list of values instead")
    low, high = (_number(rule.get(end), end, integer, where) for end in ("low", "high"))
    log, step = rule.get("log", False), rule.get("step")
    if not isinstance(log, bool):
        raise UserError(f"{where}: log must be true or false, got {shown(log)}")
    if not low < high:
        raise UserError(f"{where}: low ({low:g}) must be below high ({high:g})")
    if log and low <= 0:
        raise UserError(f"{where}: a log range needs low > 0, got {low:g}")
    if step is not None:
        step = _number(step, "step", integer, where)
        if log or step <= 0 or step > high - low:
            raise UserError(f"{where}: step must be positive, at most high - low, and not used with log")
    return {"low": low, "high": high, "log": log, "step": step, "integer": integer}


def _number(value: Any, name: str, integer: bool, where: str) -> float | int:
    if value is None:
        raise UserError(f"{where}: a range needs low and high (missing {name})")
    try:  # YAML reads 1e-5 (no dot) as a string: accept it as the number it is, as config keys do
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not math.isfinite(number) or (integer and not number.is_integer()):
        kind = "an integer" if integer else "a finite number"
        raise UserError(f"{where}: {name} must be {kind}, got {shown(value)}")
    return int(number) if integer else number


def extremes(rule: Any) -> list:
    """The values to check a rule with: every choice, or both ends of a range."""
    return list(rule) if isinstance(rule, list) else [rule["low"], rule["high"]]


def suggest(trial, space: dict[str, Any]) -> dict[str, Any]:
    """One value per key from an Optuna trial: {"train.learning_rate": 3.2e-5, ...}."""
    values = {}
    for key, rule in space.items():
        if isinstance(rule, list):
            values[key] = trial.suggest_categorical(key, rule)
        elif rule["integer"]:
            values[key] = trial.suggest_int(key, rule["low"], rule["high"], step=rule["step"] or 1, log=rule["log"])
        else:
            values[key] = trial.suggest_float(key, rule["low"], rule["high"], step=rule["step"], log=rule["log"])
    return values
