"""Faults: a run killed at any moment and resumed ends exactly as the same run left alone."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from koelectra_cookbook.runs.checkpoints import CheckpointManager
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR


def command(tmp_path: Path, model: Path, *extra: str) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / "train_intermediate.py"), "--task", "nsmc",
            "--output-dir", str(tmp_path / "runs"),
            "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path.parent / 'cache'}",
            "--set", f"model.name_or_path={model}", "--set", "train.batch_size=16", "--set", "train.epochs=2",
            "--set", "train.learning_rate=5e-4", "--set", "train.eval_every=5", "--set", "train.es_patience=null",
            "--set", "train.save_total_limit=3", "--set", "train.log_every=3",
            *extra]


def run_dir_of(tmp_path: Path) -> Path:
    return next((tmp_path / "runs" / "nsmc").iterdir())


def outcome(run: Path) -> tuple[dict, str]:
    results = json.loads((run / "results.json").read_text())
    for timing in ("train_runtime_s", "train_samples_per_s"):
        results.pop(timing)
    logs = [(run / name).read_text() for name in ("metrics.csv", "train_log.csv", "predictions.csv")]
    assert logs[1].count("\n") > 3  # a row every train.log_every steps
    return results, "".join(logs)


def start_and_wait_for(cmd: list[str], checkpoint_glob: str, root: Path) -> subprocess.Popen:
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(root.glob(checkpoint_glob)):
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    return process


def resumed(run: Path, capsys) -> str:
    """--resume RUN in this process (the kill happened to another one): what it printed. In-process, as the
    training scripts' main() runs it, to spare each test a second start of Python, torch and transformers."""
    from koelectra_cookbook.commands.train import main

    capsys.readouterr()
    status = main("intermediate", "", ["--resume", str(run)])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    return printed.out


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model_dir) -> Path:
    """The run left alone, trained once for the module (tests that change it work on a copy)."""
    root = tmp_path_factory.mktemp("uninterrupted")
    subprocess.run(command(root, tiny_model_dir), check=True, capture_output=True)
    return run_dir_of(root)


@pytest.fixture(scope="module")
def uninterrupted(finished_run):
    return outcome(finished_run)


@pytest.mark.parametrize("kill_after", ["step-00000005", "step-00000025"])
def test_resume_after_sigkill_equals_the_uninterrupted_run(tmp_path, tiny_model_dir, uninterrupted, kill_after,
                                                          capsys):
    process = start_and_wait_for(command(tmp_path, tiny_model_dir), f"runs/nsmc/*/checkpoints/{kill_after}",
                                 tmp_path)
    process.kill()
    process.wait()
    run = run_dir_of(tmp_path)
    assert not (run / "results.json").exists()
    assert "resumed from step-" in resumed(run, capsys)
    assert outcome(run) == uninterrupted


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_saves_a_checkpoint_and_prints_the_resume_command(tmp_path, tiny_model_dir, uninterrupted, stop_signal,
                                                                capsys):
    process = start_and_wait_for(command(tmp_path, tiny_model_dir), "runs/nsmc/*/checkpoints/step-00000010",
                                 tmp_path)
    process.send_signal(stop_signal)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    run = run_dir_of(tmp_path)
    assert f"--resume {run}" in stderr and "Traceback" not in stderr
    resumed(run, capsys)
    assert outcome(run) == uninterrupted


def small_training_state():
    """A model, its optimizer (after one step, so it has moments) and an Accelerator on the CPU."""
    from accelerate import Accelerator

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    return Accelerator(cpu=True), model, optimizer


def test_a_truncated_checkpoint_is_skipped_with_a_warning(tmp_path, capsys):
    accelerator, model, optimizer = small_training_state()
    manager = CheckpointManager(tmp_path / "checkpoints", keep=3)
    for step in (5, 10):
        manager.save(accelerator, step, model, optimizer, {"step": step})
    newest = tmp_path / "checkpoints" / "step-00000010" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[:40])
    (tmp_path / "checkpoints" / ".step-00000015.partial").mkdir()  # a write that never finished: not a candidate
    restored = manager.restore(accelerator, model, optimizer, lambda state, step: None)
    assert restored == (tmp_path / "checkpoints" / "step-00000005", {"step": 5})
    out = capsys.readouterr().out
    assert "skipping checkpoint" in out and "step-00000010" in out and "truncated" in out


def test_resume_of_a_run_without_checkpoints_starts_over(tmp_path, tiny_model_dir, capsys):
    process = start_and_wait_for(command(tmp_path, tiny_model_dir), "runs/nsmc/*/config.yaml", tmp_path)
    process.kill()
    process.wait()
    run = run_dir_of(tmp_path)
    for checkpoint in (run / "checkpoints").glob("*"):
        shutil.rmtree(checkpoint) if checkpoint.is_dir() else checkpoint.unlink()
    assert "starting over" in resumed(run, capsys)
    assert (run / "results.json").is_file()


def test_resume_of_something_that_is_not_a_run_directory_is_a_user_error(tmp_path):
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "train_intermediate.py"), "--resume", str(tmp_path)],
                            capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: --resume {tmp_path}: not a run directory (no config.yaml in it)"]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_s", [1.0, 2.5, 4.0, 5.5])
def test_kill_point_sweep_resumes_to_the_uninterrupted_result(tmp_path, tiny_model_dir, uninterrupted, kill_after_s,
                                                             capsys):
    """SIGKILL at moments spread over the run (start-up, mid-epoch, during evaluations and checkpoint writes),
    then resume: always the same end as the run left alone."""
    process = start_and_wait_for(command(tmp_path, tiny_model_dir), "runs/nsmc/*/config.yaml", tmp_path)
    time.sleep(kill_after_s)
    process.kill()
    process.wait()
    run = run_dir_of(tmp_path)
    resumed(run, capsys)
    assert outcome(run) == uninterrupted


def test_resuming_a_finished_run_reports_the_same_results(tmp_path, finished_run, uninterrupted, capsys):
    run = Path(shutil.copytree(finished_run, tmp_path / finished_run.name))
    assert "note: this run had finished" in resumed(run, capsys)
    assert outcome(run) == uninterrupted and (run / "model" / "config.json").is_file()


def test_a_finished_run_keeps_only_the_checkpoints_a_resume_needs_and_no_lock(finished_run):
    """The newest checkpoint (where a --resume of the finished run continues) and the best one (whose weights it
    exports again) stay; the others are removed, and so is the .lock file (the resume above works on this)."""
    results = json.loads((finished_run / "results.json").read_text())
    steps = [int(line.split(",")[1]) for line in (finished_run / "metrics.csv").read_text().splitlines()[1:]]
    kept = sorted(int(p.name.removeprefix("step-")) for p in (finished_run / "checkpoints").glob("step-*"))
    assert kept == sorted({max(steps), results["best_step"]}) and len(steps) > len(kept)
    assert not (finished_run / ".lock").exists()
