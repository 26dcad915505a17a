"""A NaN or infinite loss: stop with a clear error naming the step and keep the last good checkpoint, or skip
the batch and count it."""

from __future__ import annotations

import json
import re

import torch

from helpers import run_cli
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.intermediate import IntermediateTrainer


class PoisonedTrainer(IntermediateTrainer):
    """Its loss is infinite on every third training batch after step 12, as an overflowing model's would be."""

    def create_loss(self):
        real_loss, trainer = super().create_loss(), self

        class PoisonedLoss(torch.nn.Module):
            def forward(self, logits, labels):
                loss = real_loss(logits, labels)
                poisoned = trainer.model.training and trainer.global_step >= 12 and trainer.batch_in_epoch % 3 == 0
                return loss * float("inf") if poisoned else loss

        return PoisonedLoss()


def args(tmp_path, model_dir, *extra):
    return ["--task", "nsmc", "--output-dir", str(tmp_path / "runs"), "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}",
            "--set", f"data.cache_dir={tmp_path / 'c'}", "--set", f"model.name_or_path={model_dir}",
            "--set", "train.batch_size=16", "--set", "train.epochs=2", "--set", "train.eval_every=5",
            "--set", "train.es_patience=null", "--set", "train.log_every=5", *extra]


def test_a_non_finite_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, tiny_model_dir,
                                                                                            capsys):
    status, run = run_cli(PoisonedTrainer, *args(tmp_path, tiny_model_dir))
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert re.match(r"error: the training loss became (nan|inf) by step 15 \(after the last report at step 10\)", err[-1])
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*")) == ["step-00000005", "step-00000010"]
    assert not (run / "results.json").exists()


def test_skip_batch_policy_trains_on_and_counts_the_skipped_batches(tmp_path, tiny_model_dir):
    status, run = run_cli(PoisonedTrainer, *args(tmp_path, tiny_model_dir, "--set", "train.nan_policy=skip_batch"))
    assert status == 0
    results = json.loads((run / "results.json").read_text())
    assert results["skipped_batches"] > 0
    assert all(value == value for value in results["eval"].values())  # no NaN anywhere
    # The count travels in the checkpoints, so a resumed run keeps counting from it.
    newest = sorted((run / "checkpoints").glob("step-*"))[-1]
    state = json.loads((newest / "trainer_state.json").read_text())
    assert state["loop"]["skipped_batches"] == results["skipped_batches"]
