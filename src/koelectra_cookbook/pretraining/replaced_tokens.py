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

from koelectra_cookbook.pretraining.masking import choose_masked


@dataclass
class ReplacedTokenOutput:
    """One forward pass: the loss to minimise, its two parts, and what the evaluation counts."""

    loss: torch.Tensor
    generator_loss: torch.Tensor
    discriminator_loss: torch.Tensor
    masked: torch.Tensor  # bool (batch, length): the positions the generator filled
    replaced: torch.Tensor  # bool (batch, length): filled with another token than the original
    generator_logits: torch.Tensor  # (masked count, vocabulary), detached: the generator's at the masked positions
    originals: torch.Tensor  # (masked count,): the tokens that were there
    discriminator_logits: torch.Tensor  # (batch, length): > 0 means "replaced"
    scored: torch.Tensor  # bool (batch, length): the tokens the discriminator is scored on (text, not padding)

    @property
    def generator_correct(self) -> torch.Tensor:
        """Bool (masked count,): the generator's most likely token was the original (the evaluation's count)."""
        return self.generator_logits.argmax(-1) == self.originals


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
        """The positions the generator fills (masking.choose_masked)."""
        return choose_masked(input_ids, attention_mask, self.special_ids, self.mask_prob, generator)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                generator: torch.Generator | None = None) -> ReplacedTokenOutput:
        masked = self.choose_masked(input_ids, attention_mask, generator)
        generator_input = input_ids.masked_fill(masked, self.mask_id)
        hidden = self.generator.electra(input_ids=generator_input, attention_mask=attention_mask).last_hidden_state
        masked_logits = self.generator.generator_lm_head(self.generator.generator_predictions(hidden[masked]))
        originals = input_ids[masked]
        log_probs = F.log_softmax(masked_logits.float(), dim=-1)
        generator_loss = F.nll_loss(log_probs, originals)
        with torch.no_grad():  # sampled, as in the paper: inverse transform, one uniform number a masked position
            cumulative = log_probs.exp().cumsum(-1)
            uniform = torch.rand(len(cumulative), 1, generator=generator, device=cumulative.device)
            sampled = torch.searchsorted(cumulative, uniform * cumulative[:, -1:]).squeeze(-1)
            sampled = sampled.clamp_max(cumulative.shape[-1] - 1)
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
                                   generator_logits=masked_logits.detach(), originals=originals,
                                   discriminator_logits=logits.detach(), scored=scored)

    # --- what the held-out evaluation counts (summed over batches and processes, then summarized) ---------------

    count_size = 7  # the sums count() returns
    metric_names = ("generator_accuracy", "discriminator_accuracy", "generator_loss", "discriminator_loss",
                    "replaced_share")

    @staticmethod
    def count(out: ReplacedTokenOutput) -> torch.Tensor:
        """One batch's sums: the generator's loss and hits over its masked count, the discriminator's loss and
        hits over its scored count, and the tokens replaced."""
        masked, scored = out.masked.sum(), out.scored.sum()
        correct = ((out.discriminator_logits > 0) == out.replaced)[out.scored].sum()
        return torch.stack([out.generator_loss * masked, masked, out.generator_correct.sum(),
                            out.discriminator_loss * scored, scored, correct, out.replaced.sum()]).to(torch.float64)

    def summarize(self, totals: list[float]) -> dict[str, float]:
        """The held-out metrics from the summed counts; `loss` is the objective the run minimises."""
        generator_loss, discriminator_loss = totals[0] / max(totals[1], 1), totals[3] / max(totals[4], 1)
        return {"loss": generator_loss + self.discriminator_weight * discriminator_loss,
                "generator_accuracy": totals[2] / max(totals[1], 1),
                "discriminator_accuracy": totals[5] / max(totals[4], 1),
                "generator_loss": generator_loss, "discriminator_loss": discriminator_loss,
                "replaced_share": totals[6] / max(totals[4], 1)}
