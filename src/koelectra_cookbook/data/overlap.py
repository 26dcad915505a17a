"""The same text twice: keys that find copies, and the leak warning every training run prints.

Two keys: the exact one (the text as the model reads it: NFC, without surrounding spaces) and the near one,
which also ignores case, punctuation, spaces and repeated characters ("재밌어요!!" and "재밌어요" share it; so
do "ㅋㅋㅋ" and "ㅋㅋ"). A sentence pair's key holds both texts. audit.py (quality/duplicates.py) lists what they find;
here only the count that a run must not start without saying: evaluation texts that also stand in the training
data, whose scores then measure memory rather than reading.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

# Anything that is not a letter, a digit or a Hangul jamo: punctuation, spaces, emoji, symbols.
_NOT_WORDS = re.compile(r"[^\w]|_", re.UNICODE)
_REPEATS = re.compile(r"(.)\1+")


def exact_key(text: str, pair: str | None = None) -> str:
    key = unicodedata.normalize("NFC", text.strip())
    return key if pair is None else key + "\x00" + unicodedata.normalize("NFC", pair.strip())


def near_key(text: str, pair: str | None = None) -> str:
    def one(part: str) -> str:
        return _REPEATS.sub(r"\1", _NOT_WORDS.sub("", unicodedata.normalize("NFKC", part).casefold()))

    return one(text) if pair is None else one(text) + "\x00" + one(pair)


def keys(texts: list[str], pairs: list[str] | None, key=exact_key) -> list[str]:
    return [key(text) for text in texts] if pairs is None else [key(t, p) for t, p in zip(texts, pairs)]


def label_key(label) -> str:
    """A row's label as a comparable value: a class id, a multi-hot row, or a score."""
    return np.asarray(label).tobytes().hex()


def leak_counts(train, held_out) -> tuple[int, int]:
    """How many rows of `held_out` (a Split) have their exact text in `train` (a Split), and how many of those
    with a label no training copy has."""
    labels_of: dict[str, set[str]] = {}
    for key, label in zip(keys(train.texts, train.pairs), train.labels):
        labels_of.setdefault(key, set()).add(label_key(label))
    leaked = other = 0
    for key, label in zip(keys(held_out.texts, held_out.pairs), held_out.labels):
        if key in labels_of:
            leaked += 1
            other += label_key(label) not in labels_of[key]
    return leaked, other


def leak_warnings(train, dev, evaluation) -> list[str]:
    """The notes a run starts with when its dev split or evaluation file holds texts of its training rows."""
    notes = []
    for split, what in ((evaluation, "evaluation"), (dev, "dev")):
        if split is None or not len(split):
            continue
        leaked, other = leak_counts(train, split)
        if leaked:
            notes.append(f"warning: {leaked} of {len(split)} {what} texts ({leaked / len(split):.1%}) also stand in "
                         f"the training rows ({other} of them with another label): its scores count them; "
                         f"audit.py with the same --task or --config lists them (leaks.csv)")
    return notes
