"""How config layers are parsed and checked against the dataclasses: YAML with YAML 1.2 booleans, nested
merging, type checks with messages that name the key (and the nearest valid key for a typo)."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from koelectra_cookbook.errors import UserError, shown
from koelectra_cookbook.files.values import parse_decimal


class _Loader(yaml.SafeLoader):
    """YAML with only true/false as booleans (YAML 1.2), so `mixed_precision: no` and `labels: [yes, no]`
    stay the strings they look like, and a key given twice in one mapping refused (YAML keeps the last one
    silently, so an earlier `train:` section would be lost)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:  # the mapping's own keys (a `<<` merge may be overridden: that is its use)
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"the key {key_node.value!r} appears twice",
                                                            key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def parse_yaml(text: str):
    """Parse YAML the way every config layer is parsed."""
    return yaml.load(text, Loader=_Loader)


def merge_checked(target: dict, layer: dict, schema: type, prefix: str, source: str) -> None:
    hints = typing.get_type_hints(schema)
    for key, value in layer.items():
        if key not in hints:
            name = key[:80] if isinstance(key, str) and key.isprintable() else shown(key)
            # A section of many keys is not listed whole on one line: the nearest comes first, then where to look.
            valid = (f"valid keys: {', '.join(prefix + name for name in hints)}" if len(hints) <= 8 else
                     "every key with its default and one line of help: --help-config")
            raise UserError(f"{source}: unknown key {prefix}{name}{did_you_mean(str(key)[:100], hints, valid, prefix)}")
        if dataclasses.is_dataclass(hints[key]):
            if not isinstance(value, dict):
                raise UserError(f"{source}: {prefix}{key} must be a section of keys, got {shown(value)}")
            merge_checked(target.setdefault(key, {}), value, hints[key], f"{prefix}{key}.", source)
        else:
            target[key] = _coerce(value, hints[key], f"{prefix}{key}", source)


def to_dataclass(schema: type, values: dict) -> Any:
    hints = typing.get_type_hints(schema)
    kwargs = {}
    for name, hint in hints.items():
        if dataclasses.is_dataclass(hint):
            kwargs[name] = to_dataclass(hint, values.get(name, {}))
        elif name in values:
            kwargs[name] = values[name]
    return schema(**kwargs)


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """Check a value against the field's type; ints are accepted where floats are expected."""
    for item in (value if isinstance(value, list) else [value]):
        problem = _text_problem(item) if isinstance(item, str) else _number_problem(item)
        if problem:
            raise UserError(f"{source}: {key} holds {shown(item)}, {problem}")
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise UserError(f"{source}: {key} cannot be null")
    is_scalar = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    for option in options:
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 2**63:
                raise UserError(f"{source}: {key} holds {shown(value)}, which is too large")
            return value
        if option is float and is_scalar:
            number = _float_of(value, key, source)
            if number is not None:
                return number
        if option is str and is_scalar:
            try:
                return str(value)
            except ValueError:  # an integer beyond Python's 4300-digit conversion limit
                continue
        if typing.get_origin(option) is list and not (str in options and is_scalar):
            items = [value] if is_scalar else value  # a single name works as well as a list
            item_type = typing.get_args(option)[0]
            if isinstance(items, list) and all(isinstance(v, (str, int, float)) for v in items):
                converted = [_float_of(v, key, source) if item_type is float else str(v) for v in items]
                if None not in converted:
                    return converted
    wanted = " or ".join(_type_name(o) for o in options)
    raise UserError(f"{source}: {key} must be {wanted}, got {shown(value)}")


def _float_of(value: str | int | float, key: str, source: str) -> float | None:
    """A YAML scalar as a finite float, or None when it is no number. YAML reads 5e-4 (no dot) as a string, which is
    taken as the number it writes; but only in plain decimal with ASCII digits (files.values): Python's float()
    would also read "4_5" as 45 and full-width digits, and "inf" and "nan" are numbers no setting can use."""
    if isinstance(value, str):
        number = parse_decimal(value)
        if number is not None:
            return number
        try:
            float(value)
        except (ValueError, OverflowError):
            return None  # text, not meant as a number
        raise UserError(f"{source}: {key} holds {shown(value)}, which is not a finite number written in decimal "
                        f"(ASCII digits, no underscores)")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a float's range
        return None
    if not math.isfinite(number):
        raise UserError(f"{source}: {key} holds {shown(value)}, which is not a finite number")
    return number


def _text_problem(text: str) -> str | None:
    """Why a config string cannot be used, or None. Control characters (NUL, newlines, NEL) break file names and
    do not survive the run's config.yaml; YAML's "\ud800" escape makes a lone surrogate, which is not text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "which is not valid Unicode text"
    if any(unicodedata.category(char) == "Cc" for char in text):
        return "which holds a control character (a NUL, a line break or a tab)"
    return None


def _number_problem(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return "which is not a finite number"
    return None


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if typing.get_origin(hint) is list:
        return f"a list of {_type_name(typing.get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(hint, str(hint))


def did_you_mean(name: str, choices, otherwise: str, prefix: str = "") -> str:
    """` (did you mean <prefix><closest choice>?)` for a misspelt name, else ` (<otherwise>)`."""
    close = closest(name, choices)
    return f" (did you mean {prefix}{close}?)" if close else f" ({otherwise})"


def closest(name: str, choices) -> str | None:
    """The choice a mistyped name most likely meant, or None: a choice whose initials it is (`lr` for
    learning_rate, `bs` for batch_size, as users shorten them), else the most alike by difflib's ratio."""
    choices = [str(choice) for choice in choices]
    lowered = name.lower().replace("-", "_")
    initials = [choice for choice in choices if len(lowered) > 1 and "_" in choice
                and "".join(part[:1] for part in choice.split("_")) == lowered]
    if initials:
        return initials[0]
    close = difflib.get_close_matches(lowered, choices, n=1, cutoff=0.5)
    return close[0] if close else None


def flatten(nested: dict, prefix: str = "") -> dict:
    """{"train": {"epochs": 3}} -> {"train.epochs": 3}, values kept as they are."""
    flat = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """{"train.learning_rate": 1e-4} -> {"train": {"learning_rate": 1e-4}}: a config layer from dotted keys."""
    layer: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = layer
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return layer


def flat_differences(old: dict, new: dict, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """{"train.batch_size": (16, 32)} for every dotted key whose value differs between two nested dicts."""
    differences = {}
    for key in list(old) + [k for k in new if k not in old]:
        before, after = old.get(key), new.get(key)
        if isinstance(before, dict) and isinstance(after, dict):
            differences.update(flat_differences(before, after, f"{prefix}{key}."))
        elif before != after:
            differences[f"{prefix}{key}"] = (before, after)
    return differences


def one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def load_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML config file; a missing file or a syntax error is a user error naming the file."""
    if not path.is_file():
        raise UserError(f"config file {'is not a regular file' if path.exists() else 'not found'}: {path}")
    try:
        loaded = parse_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid YAML: {one_line(exc)[:300]}") from None
    except (ValueError, RecursionError) as exc:  # an integer of over 4300 digits, nesting too deep
        raise UserError(f"{path}: unreadable YAML: {one_line(exc)[:120]}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"{path}: expected a mapping of sections (model:, data:, train:), got {type(loaded).__name__}")
    return loaded


def parse_overrides(assignments: list[str]) -> dict[str, Any]:
    """Turn ["train.epochs=1", "data.labels=[a, b]"] into a nested dict; values are parsed as YAML."""
    nested: dict[str, Any] = {}
    for assignment in assignments:
        key, sep, raw_value = assignment.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {assignment!r}: expected dotted.key=value, e.g. train.epochs=1")
        try:
            value = parse_yaml(raw_value) if raw_value.strip() else None
        except yaml.YAMLError as exc:
            raise UserError(f"--set {shown(assignment)}: value is not valid YAML: {one_line(exc)[:300]}") from None
        except (ValueError, RecursionError) as exc:  # an integer of over 4300 digits, nesting too deep
            raise UserError(f"--set {shown(assignment)}: unreadable value: {one_line(exc)[:120]}") from None
        node = nested
        *parents, leaf = key.strip().split(".")
        for depth, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):  # e.g. --set train=1 --set train.epochs=1
                section = ".".join(parents[: depth + 1])
                raise UserError(f"--set {assignment!r}: {section} was given a value, but it is a section of keys")
        node[leaf] = value
    return nested
