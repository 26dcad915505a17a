"""Texts longer than the model's window: the rows a document becomes, what is cut, and one result per document.

A document is tokenized whole, without special tokens (token_cache.encode_documents); `document_rows` turns its
token ids into the rows the model reads, as data.long_text says:

    truncate   one row: the first `room` tokens (what transformers' truncation=True gives)
    head_tail  one row: the first head_tokens and the last room - head_tokens tokens (Sun et al. 2019: the end of
               a long review or article says as much as its start)
    windows    rows of `room` tokens, each starting room - overlap tokens after the one before, until one reaches
               the document's end (what transformers' return_overflowing_tokens with stride=overlap gives)

where room is max_seq_len less the special tokens put around every row ([CLS] and [SEP] for ELECTRA). A
document's rows are consecutive: `starts[d]:starts[d + 1]` are document d's, and `combine` turns per-row logits
(put back in input order) into one per document. No torch here: training, predict.py (full precision and int8)
and the page share it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from koelectra_cookbook.config.schema import LONG_TEXT_COMBINES as COMBINES, LONG_TEXT_MODES as MODES
from koelectra_cookbook.errors import UserError


@dataclass(frozen=True)
class LongText:
    """How a text longer than max_seq_len is read. `head_tokens` and `overlap` are resolved numbers (the
    config's null defaults made concrete by `from_config`), so a saved model says exactly what it did."""

    mode: str = "truncate"
    max_seq_len: int = 128
    head_tokens: int = 0  # head_tail: tokens kept from the start (the rest of the room comes from the end)
    overlap: int = 0  # windows: tokens a window shares with the one before
    combine: str = "mean"  # windows: how the logits of a document's windows become the document's

    @classmethod
    def from_config(cls, data, max_seq_len: int, multi_label: bool, specials: int = 2) -> "LongText":
        """From data.long_text and its keys. The defaults: a quarter of the room for the head (Sun et al.'s best
        split was 128 + 382 of 510) and for the overlap; windows combined by their mean logits, by the max for
        multi-label data (a label present in one part of a document is present in the document)."""
        room = max_seq_len - specials
        head = room // 4 if data.head_tokens is None else data.head_tokens
        overlap = room // 4 if data.window_overlap is None else data.window_overlap
        combine = data.window_combine or ("max" if multi_label else "mean")
        return cls(data.long_text, max_seq_len, head, overlap, combine)

    def room(self, specials: int) -> int:
        return self.max_seq_len - specials

    def to_dict(self) -> dict:
        return asdict(self)


def check_settings(settings: LongText, specials: int, where: str) -> None:
    """The settings must fit the tokenizer's room, every one whatever the mode (they are saved with the model, and
    predict.py --long-text may read it with another mode): a UserError naming `where` (the config, a model's
    config.json)."""
    room = settings.room(specials)
    if settings.mode not in MODES or settings.combine not in COMBINES:
        raise UserError(f"{where}: long_text mode must be one of {', '.join(MODES)} and combine one of "
                        f"{', '.join(COMBINES)} (got {settings.mode!r}, {settings.combine!r})")
    if room < 1:
        raise UserError(f"{where}: max_seq_len {settings.max_seq_len} leaves no room for text beside the "
                        f"{specials} special tokens")
    if not 0 <= settings.head_tokens <= room:
        raise UserError(f"{where}: head_tokens {settings.head_tokens} must be from 0 to {room} (max_seq_len "
                        f"{settings.max_seq_len} holds {room} text tokens beside {specials} special ones)")
    if not 0 <= settings.overlap < room:
        raise UserError(f"{where}: window_overlap {settings.overlap} must be at least 0 and less than the window's "
                        f"{room} text tokens (max_seq_len {settings.max_seq_len} less {specials} special ones), "
                        f"or no window would move on")


def from_saved(value, where: str) -> LongText:
    """The settings a model folder's config.json holds under `long_text` (written by the trainer, but a folder may
    come from anyone): the five keys, of their types, or a UserError naming the file."""
    fields = LongText.__dataclass_fields__
    if not isinstance(value, dict) or set(value) != set(fields) or not all(
            isinstance(value[name], str) if name in ("mode", "combine") else
            (type(value[name]) is int and 0 <= value[name] <= 2**20) for name in fields):
        raise UserError(f"{where}: long_text must hold {', '.join(fields)} (a mode, three whole numbers, a combine)")
    return LongText(**value)


def special_tokens(encode) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after one text ([CLS] and [SEP] for ELECTRA, <s> and </s> for RoBERTa),
    found by encoding a text with and without them: `encode(text, add_special_tokens) -> ids`."""
    for probe in ("a", "가", "1", "."):
        plain, full = list(encode(probe, False)), list(encode(probe, True))
        for start in range(len(full) - len(plain) + 1):
            if plain and full[start: start + len(plain)] == plain:
                return full[:start], full[start + len(plain):]
    return list(encode("", True)), []  # a tokenizer that knows none of the probes: its specials all come first


def window_starts(length: int, room: int, overlap: int) -> range:
    """Where each window of a `length`-token document starts: every room - overlap tokens, the last window the first
    to reach the end (one window, possibly empty, for a document that fits)."""
    step = room - overlap
    last = max(0, -(-(length - room) // step) * step) if length > room else 0
    return range(0, last + 1, step)


def document_rows(contents: list[np.ndarray], prefix: list[int], suffix: list[int],
                  settings: LongText) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The rows (token ids with the special tokens) of every document, and `starts` (len(contents) + 1 offsets
    of each document's first row), or None when every document is one row (truncate, head_tail, or windows over
    texts that fit)."""
    room = settings.room(len(prefix) + len(suffix))
    before, after = np.asarray(prefix, dtype=np.int32), np.asarray(suffix, dtype=np.int32)

    def row(*pieces: np.ndarray) -> np.ndarray:
        return np.concatenate([before, *pieces, after]).astype(np.int32, copy=False)

    if settings.mode == "truncate":
        return [row(ids[:room]) for ids in contents], None
    if settings.mode == "head_tail":
        head, tail = settings.head_tokens, room - settings.head_tokens
        return [row(ids) if len(ids) <= room else row(ids[:head], ids[len(ids) - tail:]) for ids in contents], None
    rows, starts = [], np.zeros(len(contents) + 1, dtype=np.int64)
    for document, ids in enumerate(contents):
        rows.extend(row(ids[start: start + room]) for start in window_starts(len(ids), room, settings.overlap))
        starts[document + 1] = len(rows)
    # every document fits in one window: the rows are the documents, as with truncate (nothing to combine)
    return rows, (None if len(rows) == len(contents) else starts)


def cut_report(content_lengths: np.ndarray, settings: LongText, specials: int, rows: int) -> dict:
    """What the long-text setting does to these documents: how many are longer than max_seq_len and, of all their
    tokens, how many the model never reads (windows read them all; truncate and head_tail drop the rest)."""
    lengths = np.asarray(content_lengths, dtype=np.int64)
    room = settings.room(specials)
    dropped = 0 if settings.mode == "windows" else int(np.maximum(lengths - room, 0).sum())
    tokens = int(lengths.sum())
    return {"texts": int(len(lengths)), "longer_than_max_seq_len": int((lengths > room).sum()),
            "tokens": tokens, "tokens_dropped": dropped, "rows": int(rows),
            "share_longer": round(float((lengths > room).mean()) if len(lengths) else 0.0, 4),
            "share_of_tokens_dropped": round(dropped / tokens, 4) if tokens else 0.0,
            "no_tokens": int((lengths == 0).sum())}


def describe_cut(name: str, report: dict, settings: LongText, option: str = "data.long_text:") -> str:
    """One console line of `cut_report`, saying what a user can change (`option`: where the setting is made)."""
    longer = report["longer_than_max_seq_len"]
    head = (f"{name}: {longer} of {report['texts']} texts ({report['share_longer']:.1%}) are longer than "
            f"max_seq_len {settings.max_seq_len}")
    if settings.mode == "windows":
        return f"{head}; read whole, in {report['rows']} windows ({option} windows)"
    what = "the middle" if settings.mode == "head_tail" else "the end"
    line = (f"{head}; {settings.mode} drops {what} of them: {report['tokens_dropped']} of {report['tokens']} "
            f"tokens ({report['share_of_tokens_dropped']:.1%})")
    return line + (f"; {option} windows reads them whole" if longer else "")


def combine(values: np.ndarray, starts: np.ndarray | None, how: str = "mean") -> np.ndarray:
    """Per-row values (in row order) -> one per document: the mean or the element-wise max over each document's
    rows. `starts` None: the rows are the documents."""
    if starts is None:
        return values
    firsts = starts[:-1]
    if how == "max":
        return np.maximum.reduceat(values, firsts, axis=0)
    counts = np.diff(starts).astype(values.dtype)
    return np.add.reduceat(values, firsts, axis=0) / counts.reshape(-1, *([1] * (values.ndim - 1)))


def row_documents(starts: np.ndarray) -> np.ndarray:
    """The document of every row."""
    return np.repeat(np.arange(len(starts) - 1), np.diff(starts))
