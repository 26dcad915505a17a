"""Rows of token ids cut into batches of similar length and padded to the longest row of their batch, in numpy:
what evaluation and prediction batches are made of. batching.py puts torch's sampler and collator on these; the
int8 path uses them without torch."""

from __future__ import annotations

import numpy as np


def length_sorted_order(lengths) -> np.ndarray:
    """Row indices, shortest row first (ties keep their input order)."""
    return np.argsort(np.asarray(lengths), kind="stable")


def cut_into_batches(order: np.ndarray, batch_size: int) -> list[list[int]]:
    return [order[start: start + batch_size].tolist() for start in range(0, len(order), batch_size)]


def pad_rows(rows, pad_token_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) of `rows` (sequences of token ids), int64, padded to the longest row."""
    longest = max(len(row) for row in rows)
    input_ids = np.full((len(rows), longest), pad_token_id, dtype=np.int64)
    attention_mask = np.zeros((len(rows), longest), dtype=np.int64)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = row
        attention_mask[i, : len(row)] = 1
    return input_ids, attention_mask


def segment_ids(first_lengths: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """token_type_ids of padded sentence pairs: 0 over [CLS] a [SEP], 1 over b [SEP], 0 on padding (as
    transformers' tokenizer pads them)."""
    positions = np.arange(attention_mask.shape[1])[None, :]
    return ((positions >= np.asarray(first_lengths)[:, None]) & (attention_mask == 1)).astype(np.int64)


def restore_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Put values computed in `order` back into input order."""
    restored = np.empty_like(values)
    restored[order] = values
    return restored
