"""ELECTRA's replaced-token detection (Clark et al. 2020), the objective of continued pretraining (issue 32).

A small generator, a masked-language model, fills the masked positions of a block by sampling from its
predictions; the discriminator (the encoder every training script fine-tunes) labels every token of the result
original or replaced. The loss is the generator's masked-LM loss plus `discriminator_weight` (50 in the paper)
times the discriminator's. The two share their token embeddings, as in the paper, so what the generator learns
about words reaches the discriminator.

Two choices made for speed on a CPU, where every matrix multiply counts: the generator's head (hidden -> the whole
vocabulary, the largest multiply of a small generator) is computed at the masked positions only, not at every
position as transformers' ElectraForMaskedLM computes it; and the sampled tokens carry no gradient (as in the
paper: the generator learns from its own loss, not through the discriminator's).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining


@dataclass
class ReplacedTokenOutput:
    """One forward pass: the loss to minimise, its two parts, and what the evaluation counts."""

    loss: torch.Tensor
    generator_loss: torch.Tensor
    discriminator_loss: torch.Tensor
    masked: torch.Tensor  # bool (batch, length): the positions the generator filled
    replaced: torch.Tensor  # bool (batch, length): filled with another token than the original
    generator_correct: torch.Tensor  # bool (masked count,): the generator's most likely token was the original
    discriminator_logits: torch.Tensor  # (batch, length): > 0 means "replaced"
    scored: torch.Tensor  # bool (batch, length): the tokens the discriminator is scored on (text, not padding)


def generator_config(discriminator: ElectraConfig, fraction: float) -> ElectraConfig:
    """A generator `fraction` of the discriminator's width (the paper found 1/4 to 1/2 best), with the same
    vocabulary and embedding size (the embeddings are shared) and the same depth."""
    if not 0 < fraction <= 1:
        raise ValueError(f"the generator's size must be a fraction in (0, 1], got {fraction}")
    heads = max(1, round(discriminator.num_attention_heads * fraction))
    hidden = max(heads, round(discriminator.hidden_size * fraction / heads) * heads)  # divisible by the heads
    return ElectraConfig(vocab_size=discriminator.vocab_size, embedding_size=discriminator.embedding_size,
                         hidden_size=hidden, num_attention_heads=heads,
                         intermediate_size=max(1, round(discriminator.intermediate_size * fraction)),
                         num_hidden_layers=discriminator.num_hidden_layers,
                         max_position_embeddings=discriminator.max_position_embeddings,
                         type_vocab_size=discriminator.type_vocab_size, pad_token_id=discriminator.pad_token_id)


class ReplacedTokenDetection(torch.nn.Module):
    """The generator and the discriminator trained together. `special_ids`: tokens never masked ([CLS], [SEP],
    [PAD]); `mask_id`: the [MASK] token the generator sees in their place."""

    def __init__(self, discriminator: ElectraForPreTraining, generator: ElectraForMaskedLM, mask_id: int,
                 special_ids: list[int], mask_prob: float = 0.15, discriminator_weight: float = 50.0):
        super().__init__()
        if generator.config.vocab_size != discriminator.config.vocab_size:
            raise ValueError(f"the generator's vocabulary ({generator.config.vocab_size} tokens) is not the "
                             f"discriminator's ({discriminator.config.vocab_size})")
        if generator.config.embedding_size != discriminator.config.embedding_size:
            raise ValueError(f"the generator's embedding size ({generator.config.embedding_size}) is not the "
                             f"discriminator's ({discriminator.config.embedding_size}); they share embeddings")
        self.discriminator, self.generator = discriminator, generator
        # shared token (and position, type) embeddings; the generator's head stays tied to the word embeddings
        generator.electra.embeddings.word_embeddings = discriminator.electra.embeddings.word_embeddings
        generator.electra.embeddings.position_embeddings = discriminator.electra.embeddings.position_embeddings
        generator.electra.embeddings.token_type_embeddings = discriminator.electra.embeddings.token_type_embeddings
        generator.generator_lm_head.weight = discriminator.electra.embeddings.word_embeddings.weight
        self.mask_id, self.mask_prob, self.discriminator_weight = mask_id, mask_prob, discriminator_weight
        self.register_buffer("special_ids", torch.tensor(sorted(set(special_ids)), dtype=torch.long),
                             persistent=False)

    def choose_masked(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """`mask_prob` of each block's maskable tokens (text, not special tokens or padding), drawn anew each call;
        at least one a block that has any."""
        maskable = attention_mask.bool() & ~torch.isin(input_ids, self.special_ids)
        noise = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
        masked = maskable & (noise < self.mask_prob)
        # a block the draw left without a masked token gets its maskable token of the lowest noise (without a
        # branch on the device's values: no host sync in the training step)
        empty = maskable.any(-1) & ~masked.any(-1)
        lowest = noise.masked_fill(~maskable, 2.0).argmin(-1, keepdim=True)
        positions = torch.arange(input_ids.shape[-1], device=input_ids.device)
        return masked | (empty.unsqueeze(-1) & (positions == lowest))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                generator: torch.Generator | None = None) -> ReplacedTokenOutput:
        masked = self.choose_masked(input_ids, attention_mask, generator)
        generator_input = input_ids.masked_fill(masked, self.mask_id)
        hidden = self.generator.electra(input_ids=generator_input, attention_mask=attention_mask).last_hidden_state
        masked_logits = self.generator.generator_lm_head(self.generator.generator_predictions(hidden[masked]))
        originals = input_ids[masked]
        generator_loss = F.cross_entropy(masked_logits.float(), originals)
        with torch.no_grad():  # sampled, as in the paper (Gumbel-max: argmax of logits plus Gumbel noise)
            uniform = torch.rand(masked_logits.shape, generator=generator, device=masked_logits.device)
            sampled = (masked_logits.float() - torch.log(-torch.log(uniform.clamp_min(1e-9)))).argmax(-1)
        corrupted = input_ids.clone()
        corrupted[masked] = sampled
        replaced = corrupted != input_ids
        scored = attention_mask.bool()
        logits = self.discriminator(input_ids=corrupted, attention_mask=attention_mask).logits
        # the mean over the scored tokens, as a weighted sum (boolean indexing would wait for the device)
        per_token = F.binary_cross_entropy_with_logits(logits.float(), replaced.float(), reduction="none")
        discriminator_loss = (per_token * scored).sum() / scored.sum().clamp_min(1)
        return ReplacedTokenOutput(loss=generator_loss + self.discriminator_weight * discriminator_loss,
                                   generator_loss=generator_loss.detach(),
                                   discriminator_loss=discriminator_loss.detach(), masked=masked, replaced=replaced,
                                   generator_correct=masked_logits.argmax(-1) == originals,
                                   discriminator_logits=logits.detach(), scored=scored)
