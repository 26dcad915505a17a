"""What token frequencies alone give on the held-out blocks: the floors a pretraining run's accuracies must pass
before it has learned anything from context. A falling loss can mean no more than learned frequencies, and an
encoder at its floors fine-tunes worse than random weights (docs/benchmarks.md, continued pretraining)."""

from __future__ import annotations

import numpy as np

from koelectra_cookbook.pretraining.corpus import BlockRows

SAMPLE_BLOCKS = 2000  # enough held-out blocks to estimate a token's share


def most_frequent_share(held_out: BlockRows, special_ids: list[int]) -> float:
    """The share of the most frequent text token (special tokens aside) in up to SAMPLE_BLOCKS held-out blocks:
    the accuracy of always guessing it, the floor of the generator's and masked LM's accuracy."""
    sample = np.asarray(held_out.blocks[np.sort(held_out.rows[:SAMPLE_BLOCKS])]).reshape(-1)
    text = sample[~np.isin(sample, special_ids)]
    return float(np.bincount(text).max() / len(text)) if len(text) else 0.0


def context_verdict(metrics: dict, frequent_share: float) -> str:
    """A line: the held-out accuracies beside their floors (always the most frequent token; for the discriminator,
    every token called original: 1 - replaced_share), and whether the encoder is beyond them."""
    if "discriminator_accuracy" in metrics:
        floor = 1 - metrics["replaced_share"]
        seen = (f"discriminator_accuracy {metrics['discriminator_accuracy']:.4f}, {floor:.4f} calling every token "
                f"original; generator_accuracy {metrics['generator_accuracy']:.4f}, {frequent_share:.4f} always "
                f"guessing the most frequent token")
        beyond = metrics["discriminator_accuracy"] > floor + 0.005
    else:
        seen = (f"masked_accuracy {metrics['masked_accuracy']:.4f}, {frequent_share:.4f} always guessing the most "
                f"frequent token")
        beyond = metrics["masked_accuracy"] > frequent_share + 0.01
    return (f"held out at the last evaluation: {seen}: "
            + ("beyond what frequencies give, the encoder has learned from context" if beyond else
               "NOT beyond what frequencies give yet: it has learned no context to fine-tune from (train longer)"))
