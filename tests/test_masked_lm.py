"""Masked-language modelling (pretraining/masked_lm.py): what is chosen and how it is hidden, that the head run at
the chosen positions only gives the model's own logits there, for ELECTRA, BERT and a model it does not know."""

from __future__ import annotations

import pytest
import torch
from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM,
                          ElectraConfig, ElectraForMaskedLM)

from koelectra_cookbook.pretraining.masked_lm import MaskedLanguageModel, vocabulary_head


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def small(kind: str, vocab_size: int):
    torch.manual_seed(0)
    if kind == "electra":
        return ElectraForMaskedLM(ElectraConfig(vocab_size=vocab_size, embedding_size=32, hidden_size=32,
                                                num_hidden_layers=1, num_attention_heads=2, intermediate_size=64))
    if kind == "bert":
        return BertForMaskedLM(BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=64))
    return DistilBertForMaskedLM(DistilBertConfig(vocab_size=vocab_size, dim=32, n_layers=1, n_heads=2, hidden_dim=64))


def objective(kind: str, tokenizer, mask_prob: float = 0.15) -> MaskedLanguageModel:
    return MaskedLanguageModel(small(kind, len(tokenizer)), tokenizer.mask_token_id, tokenizer.all_special_ids,
                               mask_prob).eval()


def batch(tokenizer):
    texts = ["정말 재밌는 영화였다 배우들 연기가 좋았다", "최악의 영화", "시간 가는 줄 몰랐다 " * 5]
    return tokenizer(texts, padding=True, return_tensors="pt")


def test_the_chosen_tokens_are_masked_replaced_or_kept_eight_one_one(tokenizer):
    mlm = objective("electra", tokenizer, mask_prob=0.5)
    ids = torch.randint(10, len(tokenizer), (64, 128))
    ids[:, 0], ids[:, -1] = tokenizer.cls_token_id, tokenizer.sep_token_id
    seen = []
    mlm.model.base_model.register_forward_hook(lambda module, args, kwargs, out: seen.append(kwargs["input_ids"]),
                                               with_kwargs=True)
    out = mlm(ids, torch.ones_like(ids), generator=torch.Generator().manual_seed(0))
    corrupted = seen[0]
    assert not out.masked[:, 0].any() and not out.masked[:, -1].any()  # [CLS] and [SEP] never chosen
    chosen = out.masked.sum().item()
    assert 0.45 < chosen / (64 * 126) < 0.55
    masked = (corrupted[out.masked] == tokenizer.mask_token_id).float().mean().item()
    kept = (corrupted[out.masked] == ids[out.masked]).float().mean().item()
    assert 0.77 < masked < 0.83 and 0.08 < kept < 0.12  # the rest are random tokens
    assert torch.equal(corrupted[~out.masked], ids[~out.masked])  # nothing else touched


@pytest.mark.parametrize("kind", ["electra", "bert", "distilbert"])
def test_the_loss_is_the_models_own_at_the_chosen_positions(tokenizer, kind):
    """Running the head at the chosen positions only (ELECTRA, BERT) or the whole model (one it does not know)
    gives the loss transformers' own forward gives with labels at those positions."""
    mlm = objective(kind, tokenizer)
    assert (vocabulary_head(mlm.model) is None) == (kind == "distilbert")
    inputs = batch(tokenizer)
    seen = []
    hook = mlm.model.base_model.register_forward_hook(
        lambda module, args, kwargs, out: seen.append(kwargs["input_ids"]), with_kwargs=True)
    out = mlm(inputs["input_ids"], inputs["attention_mask"], generator=torch.Generator().manual_seed(1))
    hook.remove()
    labels = inputs["input_ids"].masked_fill(~out.masked, -100)
    reference = mlm.model(input_ids=seen[0], attention_mask=inputs["attention_mask"], labels=labels).loss
    assert torch.allclose(out.loss, reference, atol=1e-5)


def test_it_learns_and_its_counts_summarize_to_the_loss(tokenizer):
    mlm = objective("electra", tokenizer).train()
    inputs = batch(tokenizer)
    optimizer = torch.optim.AdamW(mlm.parameters(), lr=1e-2)
    draws = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(30):
        out = mlm(inputs["input_ids"], inputs["attention_mask"], generator=draws)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    assert sum(losses[-5:]) < sum(losses[:5]) / 2
    metrics = mlm.summarize(mlm.count(out).tolist())
    assert metrics["loss"] == pytest.approx(out.loss.item(), rel=1e-5)
    assert 0 <= metrics["masked_accuracy"] <= 1
