"""Masked-language modelling (BERT's objective), the second objective of continued pretraining: for comparison
with replaced-token detection, and for encoders that are not ELECTRA (KLUE's BERT and RoBERTa).

`mask_prob` of each block's text tokens are chosen; of those, 80% become [MASK], 10% a random token and 10% stay
as they were (Devlin et al. 2019), and the model is scored on predicting the originals there. As in
replaced_tokens.py, the head (hidden -> the whole vocabulary) runs at the chosen positions only, where
transformers' *ForMaskedLM models score every position of every block: on a small model that head is most of the
work. Models whose head this module does not know are run whole and their logits gathered (correct, not faster).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel

from koelectra_cookbook.pretraining.masking import choose_masked

MASK_SHARE, RANDOM_SHARE = 0.8, 0.1  # of the chosen positions; the rest keep their token


@dataclass
class MaskedLMOutput:
    """One forward pass: the loss and what the evaluation counts."""

    loss: torch.Tensor
    masked: torch.Tensor  # bool (batch, length): the positions scored
    logits: torch.Tensor  # (masked count, vocabulary), detached: the model's at the masked positions
    originals: torch.Tensor  # (masked count,): the tokens that were there

    @property
    def correct(self) -> torch.Tensor:
        """Bool (masked count,): the most likely token was the original (counted by the evaluation only)."""
        return self.logits.argmax(-1) == self.originals


def vocabulary_head(model: PreTrainedModel):
    """The module that turns the encoder's hidden states into vocabulary logits, position by position, for the
    masked-LM classes of ELECTRA, BERT and RoBERTa; None for another model (then it is run whole)."""
    if hasattr(model, "generator_lm_head"):  # ElectraForMaskedLM
        return lambda hidden: model.generator_lm_head(model.generator_predictions(hidden))
    for name in ("cls", "lm_head"):  # BertForMaskedLM, RobertaForMaskedLM (and XLM-R, which is RoBERTa's)
        if isinstance(getattr(model, name, None), torch.nn.Module):
            return getattr(model, name)
    return None


class MaskedLanguageModel(torch.nn.Module):
    """A transformers *ForMaskedLM model trained on its own masked tokens. `special_ids`: tokens never chosen
    ([CLS], [SEP], [PAD]); `mask_id`: the [MASK] token."""

    metric_names = ("masked_accuracy",)
    count_size = 3  # the sums count() returns

    def __init__(self, model: PreTrainedModel, mask_id: int, special_ids: list[int], mask_prob: float = 0.15):
        super().__init__()
        self.model, self.head = model, vocabulary_head(model)
        self.mask_id, self.mask_prob = mask_id, mask_prob
        self.vocab_size = model.config.vocab_size
        self.register_buffer("special_ids", torch.tensor(sorted(set(special_ids)), dtype=torch.long),
                             persistent=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                generator: torch.Generator | None = None) -> MaskedLMOutput:
        masked = choose_masked(input_ids, attention_mask, self.special_ids, self.mask_prob, generator)
        # one draw decides each chosen token's fate: [MASK] below 0.8, a random token below 0.9, kept above
        fate = torch.rand(input_ids.shape, generator=generator, device=input_ids.device)
        random_tokens = torch.randint(self.vocab_size, input_ids.shape, generator=generator, device=input_ids.device)
        corrupted = torch.where(masked & (fate < MASK_SHARE), self.mask_id, input_ids)
        corrupted = torch.where(masked & (fate >= MASK_SHARE) & (fate < MASK_SHARE + RANDOM_SHARE),
                                random_tokens, corrupted)
        if self.head is not None:
            hidden = self.model.base_model(input_ids=corrupted, attention_mask=attention_mask).last_hidden_state
            logits = self.head(hidden[masked])
        else:
            logits = self.model(input_ids=corrupted, attention_mask=attention_mask).logits[masked]
        originals = input_ids[masked]
        loss = F.cross_entropy(logits.float(), originals)
        return MaskedLMOutput(loss=loss, masked=masked, logits=logits.detach(), originals=originals)

    # --- what the held-out evaluation counts (summed over batches and processes, then summarized) ---------------

    @staticmethod
    def count(out: MaskedLMOutput) -> torch.Tensor:
        """One batch's sums: the loss and the hits over the masked count."""
        masked = out.masked.sum()
        return torch.stack([out.loss.detach() * masked, masked, out.correct.sum()]).to(torch.float64)

    @staticmethod
    def summarize(totals: list[float]) -> dict[str, float]:
        """The held-out metrics from the summed counts; `loss` is the objective the run minimises."""
        return {"loss": totals[0] / max(totals[1], 1), "masked_accuracy": totals[2] / max(totals[1], 1)}
