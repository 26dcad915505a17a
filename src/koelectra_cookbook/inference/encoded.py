"""Texts turned into the rows a model reads, before any batch is made of them: what the prediction server
tokenizes per request (off its event loop) and joins with other requests into one batch (serving/batcher.py)."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Encoded:
    """The rows of `texts` texts (a text read in windows is several rows, `starts` says which). `first_lengths`:
    for sentence pairs, the length of each row's first segment; None for single texts."""

    rows: list[np.ndarray]
    starts: np.ndarray | None  # offsets of each text's first row (texts + 1 of them); None: one row per text
    first_lengths: np.ndarray | None
    texts: int

    @property
    def tokens(self) -> int:
        """Token ids in all rows, padding not counted: what a batch's token budget counts."""
        return sum(len(row) for row in self.rows)

    def row_starts(self) -> np.ndarray:
        return np.arange(self.texts + 1, dtype=np.int64) if self.starts is None else self.starts


def join(parts: list[Encoded]) -> Encoded:
    """One Encoded of several, texts in the order of `parts` (all single texts, or all pairs)."""
    if len(parts) == 1:
        return parts[0]
    rows = [row for part in parts for row in part.rows]
    starts = None
    if any(part.starts is not None for part in parts):
        offsets = np.cumsum([0] + [len(part.rows) for part in parts])
        starts = np.concatenate([[0]] + [part.row_starts()[1:] + offset for part, offset in zip(parts, offsets)])
    first_lengths = None if parts[0].first_lengths is None else np.concatenate([p.first_lengths for p in parts])
    return Encoded(rows, starts, first_lengths, sum(part.texts for part in parts))


def split(values: np.ndarray, parts: list[Encoded]) -> list[np.ndarray]:
    """Per-text values of a joined Encoded, back into one array per part."""
    return np.split(values, np.cumsum([part.texts for part in parts])[:-1])
