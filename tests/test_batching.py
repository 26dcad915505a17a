"""Batching: every row once per epoch, batches of similar length, input order restored after sorting."""

import numpy as np
import torch

from koelectra_cookbook.data.batching import LengthGroupedBatchSampler, PaddingCollator, SortedBatchSampler
from koelectra_cookbook.data.lengths import restore_order


def test_length_grouped_sampler_visits_every_row_once_per_epoch():
    lengths = np.random.default_rng(0).integers(3, 60, size=1003)
    sampler = LengthGroupedBatchSampler(lengths, batch_size=32, seed=1, group_batches=4)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler) == 32
        rows = np.concatenate(batches)
        assert sorted(rows.tolist()) == list(range(1003))


def test_length_grouped_batches_pad_less_than_random_batches():
    lengths = np.random.default_rng(0).integers(3, 120, size=4096)
    grouped = list(LengthGroupedBatchSampler(lengths, batch_size=32, seed=0))
    random_batches = np.array_split(np.random.default_rng(0).permutation(4096), 128)

    def padding(batches):
        return sum(len(b) * lengths[b].max() - lengths[b].sum() for b in batches)

    assert padding(grouped) < 0.25 * padding(random_batches)


def test_batch_order_is_shuffled_not_longest_first():
    """Visiting batches longest-to-shortest stopped learning in our measurements (DESIGN.md)."""
    lengths = np.arange(4096) % 100
    batches = list(LengthGroupedBatchSampler(lengths, batch_size=32, seed=0, group_batches=128))
    longest = [lengths[b].max() for b in batches]
    assert longest != sorted(longest) and longest != sorted(longest, reverse=True)


def test_same_seed_and_epoch_replay_the_same_order_and_epochs_differ():
    lengths = np.random.default_rng(0).integers(3, 60, size=500)
    first, second = (LengthGroupedBatchSampler(lengths, 16, seed=7) for _ in range(2))
    assert [b for b in first] == [b for b in second]
    second.set_epoch(1)
    assert [b for b in first] != [b for b in second]


def test_sorted_sampler_and_restore_order_round_trip():
    lengths = np.array([5, 1, 9, 3, 3, 7])
    sampler = SortedBatchSampler(lengths, batch_size=4)
    visited = np.concatenate(list(sampler))
    assert lengths[visited].tolist() == sorted(lengths.tolist())
    values_in_visit_order = lengths[visited] * 10
    assert restore_order(values_in_visit_order, sampler.order).tolist() == (lengths * 10).tolist()


def test_collator_pads_to_longest_in_batch():
    rows = [{"input_ids": np.array([2, 7, 3]), "labels": 1}, {"input_ids": np.array([2, 3]), "labels": 0}]
    batch = PaddingCollator(pad_token_id=0)(rows)
    assert batch["input_ids"].tolist() == [[2, 7, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].dtype == torch.long and batch["labels"].tolist() == [1, 0]
