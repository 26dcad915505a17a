"""ELECTRA's replaced-token detection (pretraining/replaced_tokens.py): what is masked, what is shared, what the
discriminator is told, and that both halves learn."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoTokenizer, ElectraForMaskedLM, ElectraForPreTraining

from koelectra_cookbook.pretraining.replaced_tokens import ReplacedTokenDetection, generator_config


@pytest.fixture
def objective(tiny_model_dir):
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    discriminator = ElectraForPreTraining.from_pretrained(tiny_model_dir)
    generator = ElectraForMaskedLM(generator_config(discriminator.config, 0.5))
    rtd = ReplacedTokenDetection(discriminator, generator, tokenizer.mask_token_id,
                                 [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id])
    texts = ["정말 재밌는 영화였다 배우들 연기가 좋았다", "최악의 영화", "시간 가는 줄 몰랐다 " * 5]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    return rtd, tokenizer, batch


def test_a_generator_at_a_fraction_of_the_width_keeps_vocabulary_embeddings_and_depth(tiny_model_dir):
    discriminator = ElectraForPreTraining.from_pretrained(tiny_model_dir).config
    config = generator_config(discriminator, 0.25)
    assert config.vocab_size == discriminator.vocab_size and config.embedding_size == discriminator.embedding_size
    assert config.num_hidden_layers == discriminator.num_hidden_layers
    assert config.hidden_size < discriminator.hidden_size and config.hidden_size % config.num_attention_heads == 0
    with pytest.raises(ValueError, match="fraction"):
        generator_config(discriminator, 0)


def test_the_two_share_their_embeddings(objective):
    rtd, _, _ = objective
    words = rtd.discriminator.electra.embeddings.word_embeddings
    assert rtd.generator.electra.embeddings.word_embeddings is words
    assert rtd.generator.generator_lm_head.weight is words.weight
    assert rtd.generator.electra.embeddings.position_embeddings is rtd.discriminator.electra.embeddings.position_embeddings


def test_masks_fall_on_text_only_at_the_rate_and_are_drawn_anew(objective):
    rtd, tokenizer, batch = objective
    draws = [rtd.choose_masked(batch["input_ids"], batch["attention_mask"], torch.Generator().manual_seed(seed))
             for seed in range(200)]
    special = torch.isin(batch["input_ids"], torch.tensor([tokenizer.cls_token_id, tokenizer.sep_token_id,
                                                            tokenizer.pad_token_id]))
    assert not any((masked & special).any() for masked in draws)
    maskable = int((~special).sum())
    rate = sum(int(masked.sum()) for masked in draws) / (maskable * len(draws))
    assert 0.13 < rate < 0.19  # 15%, plus one in a short block the draw left empty
    assert all(masked.any(-1).all() for masked in draws)  # every block gets at least one
    assert not torch.equal(draws[0], draws[1])


def test_the_discriminator_is_told_exactly_which_tokens_were_replaced(objective):
    rtd, _, batch = objective
    output = rtd(batch["input_ids"], batch["attention_mask"], torch.Generator().manual_seed(1))
    assert not (output.replaced & ~output.masked).any()  # only a masked position can be replaced
    assert output.generator_correct.numel() == int(output.masked.sum())  # the head ran at the masked positions only
    assert output.scored.sum() == batch["attention_mask"].sum()
    assert torch.isfinite(output.loss) and float(output.loss.detach()) == pytest.approx(
        float(output.generator_loss + 50 * output.discriminator_loss), rel=1e-5)


def test_both_halves_learn(objective):
    rtd, _, batch = objective
    optimizer = torch.optim.AdamW(rtd.parameters(), lr=3e-3)
    losses = []
    for step in range(40):
        output = rtd(batch["input_ids"], batch["attention_mask"], torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append((float(output.generator_loss), float(output.discriminator_loss)))
    first, last = losses[0], losses[-5:]
    assert sum(g for g, _ in last) / 5 < first[0] * 0.8  # the generator fills the blanks better
    assert sum(d for _, d in last) / 5 < first[1]  # the discriminator tells replacements better


def test_a_generator_of_another_vocabulary_is_refused(objective, tiny_model_dir):
    rtd, tokenizer, _ = objective
    other = generator_config(rtd.discriminator.config, 0.5)
    other.vocab_size += 10
    with pytest.raises(ValueError, match="vocabulary"):
        ReplacedTokenDetection(ElectraForPreTraining.from_pretrained(tiny_model_dir), ElectraForMaskedLM(other),
                               tokenizer.mask_token_id, [tokenizer.pad_token_id])


def test_replacements_are_drawn_from_the_generators_distribution(objective):
    """With the generator's head fixed to 70% on one token and 30% on another, the tokens the discriminator sees at
    the masked positions are those two, about 70:30 (sampled, not the generator's most likely token)."""
    rtd, tokenizer, batch = objective
    first, second = 100, 200
    vocabulary = rtd.generator.config.vocab_size

    class FixedHead(torch.nn.Module):
        def forward(self, hidden):
            logits = torch.full((len(hidden), vocabulary), -1e4)
            logits[:, first], logits[:, second] = math.log(0.7), math.log(0.3)
            return logits

    rtd.generator.generator_lm_head = FixedHead()
    seen = []
    rtd.discriminator.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["input_ids"]),
                                            with_kwargs=True)
    draws = torch.Generator().manual_seed(0)
    filled = []
    for _ in range(100):
        output = rtd(batch["input_ids"], batch["attention_mask"], draws)
        filled.append(seen[-1][output.masked])
    filled = torch.cat(filled)
    assert set(filled.tolist()) == {first, second}
    assert 0.65 < (filled == first).float().mean().item() < 0.75
