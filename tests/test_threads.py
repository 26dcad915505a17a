"""train.num_threads: the CPU thread count follows the cores other processes leave free (auto), a number is used
as it is, and a count set before the run (OMP_NUM_THREADS) is left alone."""

from __future__ import annotations

import os

import pytest
import torch

from helpers import run_cli
from koelectra_cookbook.config.schema import build_config
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.trainers import cpu_threads as threads
from koelectra_cookbook.trainers.cpu_threads import CpuSample, CpuThreads, others_busy_cores, read_sample, threads_for
from koelectra_cookbook.trainers.beginner import BeginnerTrainer


def test_the_cpu_time_of_this_process_is_not_counted_as_other_work():
    before, after = CpuSample(10.0, all_busy_s=100.0, own_s=5.0), CpuSample(12.0, all_busy_s=104.0, own_s=7.0)
    assert others_busy_cores(before, after) == 1.0  # 4 s busy in 2 s, 2 of them ours
    assert others_busy_cores(before, CpuSample(12.0, 101.0, 7.0)) == 0.0  # rounding never goes below 0


def test_a_thread_needs_most_of_a_free_core():
    assert [threads_for(free, most=2) for free in (2.0, 1.75, 1.6, 1.0, 0.2)] == [2, 2, 1, 1, 1]
    assert threads_for(7.9, most=4) == 4


def test_the_sample_counts_only_the_cores_we_may_use(tmp_path):
    (tmp_path / "self").mkdir()
    (tmp_path / "stat").write_text("cpu  9 9 9 9 9 9 9 9 0 0\n"
                                   "cpu0 100 0 100 500 0 0 0 0 0 0\n"
                                   "cpu1 1000 0 0 0 0 0 0 0 0 0\n")
    (tmp_path / "self" / "stat").write_text("42 (python (odd) name) R 1 1 1 0 -1 0 0 0 0 0 30 20 0 0 20 0\n")
    sample = read_sample({0}, proc=tmp_path)
    ticks = threads.os.sysconf("SC_CLK_TCK")
    assert sample.all_busy_s == 200 / ticks and sample.own_s == 50 / ticks
    assert read_sample({0}, proc=tmp_path / "missing") is None


class FakeLoad:
    """A /proc that shows other processes keeping `busy` cores busy, with a clock the test moves."""

    def __init__(self, monkeypatch, busy: float):
        self.busy, self.now, self.total = busy, 1000.0, 0.0
        monkeypatch.setattr(threads, "read_sample", lambda cores: self.sample())
        monkeypatch.setattr(threads.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(threads.time, "sleep", self.advance)

    def advance(self, seconds: float) -> None:
        self.total += self.busy * seconds
        self.now += seconds

    def sample(self) -> CpuSample:
        return CpuSample(self.now, self.total, 0.0)


def test_auto_takes_a_thread_off_per_busy_core_and_gives_it_back_when_the_load_goes(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS")
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # torch's own default: the suite may have pinned another
    before = torch.get_num_threads()
    load = FakeLoad(monkeypatch, busy=1.0)
    chooser = CpuThreads("auto")
    try:
        most = chooser.most
        assert chooser.start().startswith(f"CPU threads: {max(1, most - 1)} (auto; ")
        assert torch.get_num_threads() == max(1, most - 1)
        load.advance(10.0)
        assert chooser.maybe_adjust() is None  # not yet half a minute
        load.busy = 0.0
        load.advance(30.0)
        changed = chooser.maybe_adjust()
        assert torch.get_num_threads() == most
        assert (changed is None) == (most == 1)
        assert round(chooser.others, 2) == 0.25  # 10 s busy in the 40 s since the last look
    finally:
        chooser.restore()
    assert torch.get_num_threads() == before


def test_a_count_set_before_the_run_or_in_the_config_is_kept(monkeypatch):
    FakeLoad(monkeypatch, busy=1.0)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    chooser = CpuThreads("auto")
    assert chooser.start().startswith(f"CPU threads: {torch.get_num_threads()} (set before the run")
    chooser.restore()
    chooser = CpuThreads(1)
    assert chooser.start().startswith("CPU threads: 1 (train.num_threads")
    chooser.restore()


def test_a_run_trains_on_the_chosen_count_and_gives_the_old_one_back(tmp_path, capsys):
    seen = []

    class Watched(BeginnerTrainer):
        def on_step_end(self):
            super().on_step_end()
            seen.append(torch.get_num_threads())

    before = torch.get_num_threads()
    status, _ = run_cli(Watched, "--task", "nsmc", "--demo", "--output-dir", str(tmp_path),
                        "--set", "train.max_steps=3", "--set", "train.num_threads=1")
    assert status == 0 and seen == [1, 1, 1] and torch.get_num_threads() == before
    assert "CPU threads: 1 (train.num_threads" in capsys.readouterr().out


def test_a_thread_count_is_auto_or_a_whole_number_of_threads():
    assert build_config([("t", {"train": {"num_threads": 3}})]).train.num_threads == 3
    for bad in ("many", 0, 5000, True):
        with pytest.raises(UserError, match="train.num_threads"):
            build_config([("t", {"train": {"num_threads": bad}})])
