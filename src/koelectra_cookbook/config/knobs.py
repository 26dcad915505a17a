"""What every config section is made of: a key with its default and help, and the check that names a bad value."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from koelectra_cookbook.errors import UserError, shown


def knob(default: Any, help: str) -> Any:
    """A config key's default and its one-line help (`--help-config` and docs/reference/config.md show it)."""
    return field(default=default, metadata={"help": help})


def require(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise UserError(f"config: {key} {rule} (got {shown(value, 120)})")
