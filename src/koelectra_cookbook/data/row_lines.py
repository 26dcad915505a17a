"""Where each row of a data file starts, for error messages that name the line (readers.py, json_records.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class RowLines:
    """The physical line each row of a table starts on, computed only when first asked for (finding the
    lines of a JSON array means scanning its text, which costs more than parsing it)."""

    def __init__(self, compute: Callable[[], Sequence[int]]):
        self._compute = compute
        self._lines: np.ndarray | None = None

    def _all(self) -> np.ndarray:
        if self._lines is None:
            self._lines = np.asarray(self._compute(), dtype=np.int64)
        return self._lines

    def __getitem__(self, index):
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def tolist(self) -> list[int]:
        return self._all().tolist()
