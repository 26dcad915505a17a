"""Batches padded to their own longest row, built from rows of similar length.

Most NSMC reviews are a dozen tokens long, so padding every batch to max_seq_len would spend most of the
compute on padding. Training batches come from length-sorted groups but are visited in shuffled order:
visiting them longest-to-shortest (as some samplers do) stopped a model from learning in our measurements.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from koelectra_cookbook.data.dataset import Split
from koelectra_cookbook.data.lengths import cut_into_batches, length_sorted_order, pad_rows, segment_ids
from koelectra_cookbook.data.long_text import row_documents


class SplitDataset(Dataset):
    """Row i of a split as {"input_ids": array, "labels": label}, and for a sentence pair "first_length". A row
    is a document, or one window of it (the label is its document's)."""

    def __init__(self, split: Split):
        self.split = split
        self.documents = None if split.starts is None else row_documents(split.starts)

    def __len__(self) -> int:
        return len(self.split.token_ids)

    def __getitem__(self, index: int) -> dict:
        document = index if self.documents is None else self.documents[index]
        row = {"input_ids": self.split.token_ids[index], "labels": self.split.labels[document]}
        if self.split.first_lengths is not None:
            row["first_length"] = int(self.split.first_lengths[index])
        return row


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Training batches: shuffle the rows, sort each window of `group_batches` batches by length, cut it into
    batches, then shuffle the batches. Seeded by (seed, epoch), so an epoch's order can be replayed on resume.

    `documents` (the document of each row, for windows) with `per_document`: each epoch trains on at most that many
    windows of each document, drawn anew, so one long text does not outweigh many short ones."""

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, group_batches: int = 64,
                 documents: np.ndarray | None = None, per_document: int | None = None):
        self.lengths = np.asarray(lengths)
        self.documents = documents if per_document else None
        self.per_document = per_document
        # Deliberately not called `batch_size`: Accelerate's distributed sharding then treats the batches as
        # variable-sized, which they are (the one short batch can come anywhere in the shuffled order).
        self.rows_per_batch = batch_size
        self.seed = seed
        self.group_size = batch_size * group_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called at the start of each epoch so every epoch has its own order."""
        self.epoch = epoch

    @classmethod
    def for_split(cls, split: Split, batch_size: int, seed: int, per_document: int | None = None):
        """The sampler of a training split (its windows, when a document has several)."""
        documents = None if split.starts is None else row_documents(split.starts)
        return cls(split.lengths(), batch_size, seed, documents=documents, per_document=per_document)

    def rows_per_epoch(self) -> int:
        if self.documents is None:
            return len(self.lengths)
        return int(np.minimum(np.bincount(self.documents), self.per_document).sum())

    def __len__(self) -> int:
        return -(-self.rows_per_epoch() // self.rows_per_batch)

    def __iter__(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        order = rng.permutation(len(self.lengths))
        if self.documents is not None:  # the first per_document rows of each document in this shuffled order
            by_document = order[np.argsort(self.documents[order], kind="stable")]
            firsts = np.searchsorted(self.documents[by_document], self.documents[by_document], side="left")
            chosen = by_document[np.arange(len(by_document)) - firsts < self.per_document]
            order = chosen[rng.permutation(len(chosen))]
        batches = []
        for start in range(0, len(order), self.group_size):
            group = order[start: start + self.group_size]
            group = group[np.argsort(self.lengths[group], kind="stable")]
            batches.extend(group[i: i + self.rows_per_batch] for i in range(0, len(group), self.rows_per_batch))
        for batch_index in rng.permutation(len(batches)):
            yield batches[batch_index].tolist()


class SortedBatchSampler(Sampler[list[int]]):
    """Evaluation batches: rows sorted by length, so each batch pads little.
    `order` says where each visited row came from, to put results back in input order."""

    def __init__(self, lengths: np.ndarray, batch_size: int):
        self.order = length_sorted_order(lengths)
        self.batch_size = batch_size

    def __len__(self) -> int:
        return -(-len(self.order) // self.batch_size)

    def __iter__(self):
        yield from cut_into_batches(self.order, self.batch_size)


def model_inputs(batch: dict) -> dict:
    """What the model's forward takes from a batch (token_type_ids only for sentence pairs)."""
    return {key: batch[key] for key in ("input_ids", "attention_mask", "token_type_ids") if key in batch}


class PaddingCollator:
    """Stacks rows into tensors padded to the longest row of the batch. Labels keep their dtype: class ids
    (int64) for single-label data, float multi-hot rows for multi-label data."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = pad_rows([row["input_ids"] for row in rows], self.pad_token_id)
        batch = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(attention_mask)}
        if "first_length" in rows[0]:  # sentence pairs: segment 1 from the token after the first [SEP]
            firsts = np.array([row["first_length"] for row in rows])
            batch["token_type_ids"] = torch.from_numpy(segment_ids(firsts, attention_mask))
        if "labels" in rows[0]:  # prediction on unlabelled text has none
            batch["labels"] = torch.from_numpy(np.stack([np.asarray(row["labels"]) for row in rows]))
        return batch
