"""The expert level's additions, each on its own: schedule, accumulation, clipping, layer-wise decay, freezing,
added tokens."""

from __future__ import annotations

import pytest
import torch

from koelectra_cookbook.commands.train import parse_args
from koelectra_cookbook.config.resolve import resolve_config
from koelectra_cookbook.data.batching import PaddingCollator, SplitDataset
from koelectra_cookbook.classifier.loading import add_tokens, load_tokenizer
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.expert import ExpertTrainer


def make_trainer(tmp_path, model_dir, *overrides: str) -> ExpertTrainer:
    argv = ["--task", "nsmc", "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path}",
            "--set", f"model.name_or_path={model_dir}", "--set", "train.batch_size=8"]
    for override in overrides:
        argv += ["--set", override]
    trainer = ExpertTrainer(resolve_config(parse_args("", argv, True)), output_dir=tmp_path / "runs")
    trainer.setup()
    return trainer


def warmup_then(schedule: str, warmup_steps: int, total_steps: int):
    """The learning-rate factor at each step of the schedule the expert trainer creates for train.lr_schedule
    (transformers' "linear" and "constant_with_warmup")."""
    from transformers import get_scheduler

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    name = "linear" if schedule == "linear" else "constant_with_warmup"
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=warmup_steps, num_training_steps=total_steps)
    return lambda step: scheduler.lr_lambdas[0](step)


def test_learning_rate_schedule_at_start_end_of_warmup_and_end():
    linear = warmup_then("linear", warmup_steps=10, total_steps=100)
    assert linear(0) == 0.0 and linear(5) == 0.5 and linear(10) == 1.0
    assert linear(55) == pytest.approx(0.5) and linear(100) == 0.0
    constant = warmup_then("constant", warmup_steps=10, total_steps=100)
    assert constant(5) == 0.5 and constant(10) == 1.0 and constant(99) == 1.0
    assert warmup_then("linear", 0, 100)(0) == 1.0


def test_trainer_schedule_counts_optimizer_steps_not_batches(tmp_path, tiny_model_dir):
    trainer = make_trainer(tmp_path, tiny_model_dir, "train.gradient_accumulation_steps=4", "train.epochs=2",
                           "train.warmup_ratio=0.25")
    batches = len(trainer.train_loader)  # 270 rows / 8 = 34 batches
    assert trainer.total_steps == 2 * -(-batches // 4)
    assert trainer.current_learning_rate() == 0.0  # step 0 of the warmup
    warmup = round(0.25 * trainer.total_steps)
    for _ in range(warmup):
        trainer.scheduler.step()
    assert trainer.current_learning_rate() == pytest.approx(trainer.config.train.learning_rate)


def test_accumulating_4_batches_of_8_gives_the_gradient_of_one_batch_of_32(tmp_path, tiny_model_dir):
    trainer = make_trainer(tmp_path, tiny_model_dir, "train.gradient_accumulation_steps=4")
    trainer.model.eval()  # dropout off, so both ways see the same network
    rows = [SplitDataset(trainer.data.train)[i] for i in range(32)]
    collate = PaddingCollator(trainer.tokenizer.pad_token_id)

    trainer.optimizer.zero_grad()
    for part in range(4):
        trainer.batch_in_epoch = part  # the loop's position: the first group of the epoch
        trainer.backward(trainer.training_step(collate(rows[part * 8:(part + 1) * 8])))
    accumulated = [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]

    trainer.optimizer.zero_grad()
    trainer.accelerator.backward(trainer.training_step(collate(rows)))
    whole = [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]
    assert len(accumulated) == len(whole) > 0
    for a, b in zip(accumulated, whole):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_steps_come_every_n_batches_and_after_a_short_last_group(tmp_path, tiny_model_dir):
    trainer = make_trainer(tmp_path, tiny_model_dir, "train.gradient_accumulation_steps=4")
    batches = len(trainer.train_loader)
    steps = []
    for done in range(1, batches + 1):
        trainer.batch_in_epoch = done
        if trainer.should_step():
            steps.append(done)
    assert steps == list(range(4, batches + 1, 4)) + ([batches] if batches % 4 else [])
    trainer.batch_in_epoch = batches - 1  # the last batch, in a group of batches % 4
    assert trainer.accumulation_group_size() == (batches % 4 or 4)


def test_clipping_bounds_the_gradient_norm(tmp_path, tiny_model_dir):
    trainer = make_trainer(tmp_path, tiny_model_dir, "train.max_grad_norm=0.01")
    batch = PaddingCollator(trainer.tokenizer.pad_token_id)([SplitDataset(trainer.data.train)[i] for i in range(8)])
    trainer.backward(trainer.training_step(batch) * 1000)
    seen = {}
    original_step = trainer.optimizer.step

    def record_norm(*args, **kwargs):
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        seen["norm"] = float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))
        return original_step(*args, **kwargs)

    trainer.optimizer.step = record_norm
    trainer.optimizer_step()
    assert seen["norm"] <= 0.01 * 1.001


def test_layerwise_decay_gives_each_layer_its_rate(tmp_path, tiny_model_dir):
    trainer = make_trainer(tmp_path, tiny_model_dir, "train.layerwise_lr_decay=0.5", "train.learning_rate=1e-3",
                           "train.warmup_ratio=0")
    rate_of = {}
    for group in trainer.optimizer.param_groups:
        for parameter in group["params"]:
            rate_of[id(parameter)] = group["lr"]
    layers = trainer.model.config.num_hidden_layers  # 2
    for name, parameter in trainer.model.named_parameters():
        if "embeddings" in name:
            expected = 1e-3 * 0.5 ** (layers + 1)
        elif ".layer.1." in name:
            expected = 1e-3 * 0.5
        elif ".layer.0." in name:
            expected = 1e-3 * 0.25
        else:
            expected = 1e-3  # the classification head
        assert rate_of[id(parameter)] == pytest.approx(expected), name


def test_frozen_parameters_do_not_change(tmp_path, tiny_model_dir):
    trainer = make_trainer(tmp_path, tiny_model_dir, "model.freeze_embeddings=true", "model.freeze_layers=1",
                           "train.epochs=1", "train.warmup_ratio=0")
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.fit()
    for name, parameter in trainer.model.named_parameters():
        frozen = "embeddings" in name or ".layer.0." in name
        assert torch.equal(parameter, before[name]) == frozen, name


def test_freezing_more_layers_than_the_model_has_is_a_user_error(tmp_path, tiny_model_dir):
    from koelectra_cookbook.errors import UserError

    with pytest.raises(UserError, match="freeze_layers"):
        make_trainer(tmp_path, tiny_model_dir, "model.freeze_layers=5")


def test_added_tokens_fill_unused_slots_first_and_survive_save_and_load(tmp_path, tiny_model_dir):
    # A vocabulary with two [unused*] slots, like KoELECTRA's (which has 200).
    from koelectra_cookbook.classifier.tiny import build_tiny_electra

    tokenizer = load_tokenizer(str(tiny_model_dir))
    words = sorted(tokenizer.get_vocab(), key=tokenizer.get_vocab().get)
    model_dir = build_tiny_electra(tmp_path / "m", words + ["[unused0]", "[unused1]"], hidden_size=32,
                                   num_layers=2, num_heads=2)
    tokenizer = load_tokenizer(str(model_dir))
    size = len(tokenizer)
    tokenizer, appended = add_tokens(tokenizer, ["ㅋㅋㅋㅋㅋ", "<배우명>", "@@평점@@"])
    assert appended == 1 and len(tokenizer) == size + 1
    assert tokenizer.convert_tokens_to_ids(["ㅋㅋㅋㅋㅋ", "<배우명>"]) == [size - 2, size - 1]
    assert tokenizer.tokenize("<배우명> ㅋㅋㅋㅋㅋ @@평점@@") == ["<배우명>", "ㅋㅋㅋㅋㅋ", "@@평점@@"]
    tokenizer.save_pretrained(tmp_path / "saved")
    reloaded = load_tokenizer(str(tmp_path / "saved"))
    assert reloaded.tokenize("<배우명> ㅋㅋㅋㅋㅋ @@평점@@") == ["<배우명>", "ㅋㅋㅋㅋㅋ", "@@평점@@"]

    trainer = make_trainer(tmp_path / "t", model_dir, "model.add_tokens=[ㅋㅋㅋㅋㅋ, <배우명>, '@@평점@@']",
                           "train.epochs=1")
    assert trainer.model.get_input_embeddings().num_embeddings == size + 1
