"""Storage and run-directory faults: nothing overwritten, nothing half-written, no run that cannot be saved."""

from __future__ import annotations

import shutil
from collections import namedtuple

import pytest
import torch

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.runs.directory import RunDirectory, check_free_space


def test_runs_started_in_the_same_second_get_distinct_directories(tmp_path, monkeypatch):
    monkeypatch.setattr("time.strftime", lambda fmt: "20260101-120000")
    paths = [RunDirectory.create_in(tmp_path / "nsmc", "expert").path for _ in range(3)]
    assert [p.name for p in paths] == ["expert-20260101-120000", "expert-20260101-120000-2",
                                       "expert-20260101-120000-3"]


def test_a_run_directory_that_cannot_be_created_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(UserError, match="cannot create a run directory under"):
        RunDirectory.create_in(tmp_path / "file" / "nsmc", "beginner")


def test_too_little_free_space_is_refused_before_training(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10 * 2**20, 9 * 2**20, 2**20))
    with pytest.raises(UserError, match=r"1 MiB free, but this run needs about 100 MiB"):
        check_free_space(tmp_path / "runs" / "not-yet", 100 * 2**20)
    check_free_space(tmp_path, 2**19)  # enough: no error


def test_a_full_disk_while_saving_the_model_is_one_error_and_leaves_no_partial_folder(tmp_path, monkeypatch,
                                                                                        tiny_model_dir, capsys):
    """model/ appears whole or not at all: a failure while saving it is one error line, and the half-written
    folder is removed; an intermediate run keeps its checkpoints and says how to resume."""
    from helpers import run_cli
    from koelectra_cookbook.paths import SAMPLES_DIR
    from koelectra_cookbook.trainers.beginner import BeginnerTrainer
    from koelectra_cookbook.trainers.intermediate import IntermediateTrainer

    def fail_half_way(self, directory):
        (directory / "config.json").write_text("{}")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(BeginnerTrainer, "save_model", fail_half_way)
    for trainer, then in ((BeginnerTrainer, "run it again"), (IntermediateTrainer, "--resume")):
        status, run = run_cli(trainer, "--task", "nsmc", "--output-dir", str(tmp_path / trainer.level),
                              "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                              "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.epochs=1")
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 2 and err[-1].startswith("error: cannot write the outputs of run") and then in err[-1]
        assert "No space left on device" in err[-1]
        assert sorted(p.name for p in run.iterdir() if "model" in p.name) == []
        assert not (run / "results.json").exists()
    assert list((run / "checkpoints").glob("step-*"))


def test_a_checkpoint_that_cannot_be_written_is_a_clear_error_and_leaves_the_previous_ones(tmp_path, monkeypatch):
    from accelerate import Accelerator

    from koelectra_cookbook.runs.checkpoints import CheckpointManager

    accelerator, model = Accelerator(cpu=True), torch.nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    manager = CheckpointManager(tmp_path / "checkpoints", keep=2)
    manager.save(accelerator, 5, model, optimizer, {"global_step": 5})

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("koelectra_cookbook.runs.checkpoints.save_file", disk_full)
    with pytest.raises(UserError, match=r"cannot write checkpoint .*step-00000010 \(No space left on device\)"):
        manager.save(accelerator, 10, model, optimizer, {"global_step": 10})
    monkeypatch.undo()
    restored = manager.restore(accelerator, model, optimizer, lambda state, step: None)
    assert restored == (tmp_path / "checkpoints" / "step-00000005", {"global_step": 5})
    assert not (tmp_path / "checkpoints" / ".step-00000010.partial").exists()
