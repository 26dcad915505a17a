"""JSON from files that may come from someone else (a run folder, a checkpoint), read with every value checked
before it is used: a mismatch raises `DamagedState`, so the caller can fall back (to an older checkpoint, to
rebuilding) instead of crashing halfway. No torch here: predict.py and compare.py read runs through this.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class DamagedState(Exception):
    """A stored state that cannot be restored: missing, unreadable, or not shaped like the object it is for."""


# --- checking values read from JSON ---------------------------------------------------------------------

def check_like(value: Any, reference: Any, where: str) -> Any:
    """`value` if it has the structure of `reference` (same keys, list lengths and value types), else
    DamagedState. Lists come back as tuples where the reference holds a tuple (JSON has no tuples)."""
    if isinstance(reference, dict):
        if not isinstance(value, dict) or set(value) != set(reference):
            raise DamagedState(f"{where}: expected the keys {sorted(reference)}, found {describe(value)}")
        return {key: check_like(value[key], reference[key], f"{where}.{key}") for key in reference}
    if isinstance(reference, (list, tuple)):
        if not isinstance(value, list) or len(value) != len(reference):
            raise DamagedState(f"{where}: expected a list of {len(reference)}, found {describe(value)}")
        items = [check_like(v, r, f"{where}[{i}]") for i, (v, r) in enumerate(zip(value, reference))]
        return tuple(items) if isinstance(reference, tuple) else items
    if not _same_kind(value, reference):
        raise DamagedState(f"{where}: expected {type(reference).__name__}, found {describe(value)}")
    return value


def check_fields(state: Any, schema: dict[str, tuple[type, ...]], where: str) -> dict:
    """`state` if it is a dict with exactly the keys of `schema`, each value of one of its types (type(None)
    allows null; an int is accepted where a float is expected), else DamagedState."""
    if not isinstance(state, dict) or set(state) != set(schema):
        raise DamagedState(f"{where}: expected the keys {sorted(schema)}, found {describe(state)}")
    for key, kinds in schema.items():
        if not any(_is(state[key], kind) for kind in kinds):
            raise DamagedState(f"{where}.{key}: expected {' or '.join(k.__name__ for k in kinds)}, "
                               f"found {describe(state[key])}")
    return state


def _is(value: Any, kind: type) -> bool:
    if kind is type(None):
        return value is None
    if isinstance(value, bool) and kind is not bool:
        return False  # JSON true is not the number 1 here
    return isinstance(value, (int, float)) if kind is float else isinstance(value, kind)


def _same_kind(value: Any, reference: Any) -> bool:
    if reference is None:
        return value is None
    if isinstance(reference, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(reference, bool)
    if isinstance(reference, float):
        return isinstance(value, (int, float))
    return type(value) is type(reference)


def describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"the keys {sorted(map(str, value))[:12]}"
    return f"{type(value).__name__} {str(value)[:40]!r}"


def read_json(path: Path, limit: int = 64 * 2**20, follow_links: bool = False) -> Any:
    """A JSON file of at most `limit` bytes. DamagedState if it is missing, not a regular file (a link unless
    `follow_links`, a pipe, a device that never ends), too large, or not JSON."""
    try:
        if (path.is_symlink() and not follow_links) or not path.is_file():
            raise DamagedState(f"{path.name} is missing or not a regular file")
        if path.stat().st_size > limit:
            raise DamagedState(f"{path.name} is larger than {limit} bytes")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise DamagedState(f"{path.name} is not valid JSON ({type(exc).__name__})") from None
