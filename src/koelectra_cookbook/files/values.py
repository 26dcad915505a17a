"""One parser per kind of value read from a file, a config or a model folder: whole numbers, decimal numbers and
label names. Python's own int() and float() read more than a file means: "4_5" as 45 (underscores group digits),
full-width "４" and Arabic-Indic digits as 4, and int() fails on "²", which str.isdigit() accepts. Every place that
reads a number from something a stranger wrote uses these instead, so a value means one thing everywhere."""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only
DECIMAL_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_whole_number(text: str) -> int | None:
    """The integer `text` writes in ASCII digits (surrounding spaces allowed), else None."""
    text = text.strip()
    if not WHOLE_NUMBER.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:  # beyond Python's 4300-digit conversion limit
        return None


def parse_decimal(text: str) -> float | None:
    """The finite number `text` writes in decimal notation with ASCII digits (4.5, -3, 5e-4, .5; surrounding
    spaces allowed), else None: "nan", "inf", "4_5", "４.５" and numbers beyond a float's range are not numbers."""
    text = text.strip()
    if not DECIMAL_NUMBER.fullmatch(text):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def normalize_label(value: Any) -> str:
    """Labels are compared as text, so 1, "1" and "1.0" are the same label and "pos" stays "pos" (and "긍정" is the
    same label whether its Hangul is composed or not: NFC). Only ASCII digits make a number, so "1_0" and "１"
    stay labels of their own rather than merging with 10 and 1."""
    text = unicodedata.normalize("NFC", str(value).strip())
    if WHOLE_NUMBER.fullmatch(text):
        number = parse_whole_number(text)
        return text if number is None else str(number)  # exact, however large
    if DECIMAL_NUMBER.fullmatch(text):
        number = float(text)
        return str(int(number)) if number.is_integer() and abs(number) < 2**53 else text
    return text
