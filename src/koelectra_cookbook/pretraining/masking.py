"""Which tokens of a block the pretraining objectives hide: the one draw both objectives share."""

from __future__ import annotations

import torch


def choose_masked(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: torch.Tensor,
                  mask_prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """`mask_prob` of each block's maskable tokens (text: not special tokens, not padding), drawn anew each call
    from `generator` (or the global random state); at least one a block that has any. Bool, shaped as the ids."""
    maskable = attention_mask.bool() & ~torch.isin(input_ids, special_ids)
    noise = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
    masked = maskable & (noise < mask_prob)
    # a block the draw left without a masked token gets its maskable token of the lowest noise (without a branch
    # on the device's values: no host sync in the training step)
    empty = maskable.any(-1) & ~masked.any(-1)
    lowest = noise.masked_fill(~maskable, 2.0).argmin(-1, keepdim=True)
    positions = torch.arange(input_ids.shape[-1], device=input_ids.device)
    return masked | (empty.unsqueeze(-1) & (positions == lowest))
