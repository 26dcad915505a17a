"""How many CPU threads torch uses while training (`train.num_threads`).

On a machine that other work keeps busy (a browser, another job), torch's default of one thread per core makes
every small operation of a step wait for a thread that lost its core to the other process; one thread fewer
than there are busy cores loses almost nothing and avoids the waits (docs/benchmarks.md has the measurement).
`auto` therefore counts the cores this process may use, subtracts the cores other processes kept busy while the
run was setting up, and looks again every half minute during training. A number is used as it is; a thread count
set before the run (`OMP_NUM_THREADS`, or `torch.set_num_threads` in Python) is left alone.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

RECHECK_EVERY_S = 30.0
MIN_WINDOW_S = 0.2  # shorter windows are mostly rounding: /proc counts CPU time in 10 ms ticks
# A core counts as free when less than this share of it is busy with other work: a thread that must share its
# core costs far more than the thread gains, so a half-busy core is not worth a thread.
SPARE_SHARE = 0.3


@dataclass
class CpuSample:
    """CPU time (seconds) spent by everything on the cores we may use, and by this process, at `wall_s`."""

    wall_s: float
    all_busy_s: float
    own_s: float


def read_sample(cores: set[int], proc: Path = Path("/proc")) -> CpuSample | None:
    """None where /proc is not there to read (not Linux): `auto` then keeps torch's choice."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        busy = 0
        for line in (proc / "stat").read_text().splitlines():
            name, *fields = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                user, nice, system, idle, iowait, irq, softirq, steal = (int(f) for f in fields[:8])
                busy += user + nice + system + irq + softirq + steal
        own = (proc / "self" / "stat").read_text().rsplit(")", 1)[1].split()
        own_ticks = int(own[11]) + int(own[12])  # utime and stime of all this process's threads
    except (OSError, ValueError, IndexError):
        return None
    return CpuSample(time.monotonic(), busy / ticks, own_ticks / ticks)


def others_busy_cores(before: CpuSample, after: CpuSample) -> float:
    """How many cores other processes kept busy between two samples, on average."""
    window = after.wall_s - before.wall_s
    others = (after.all_busy_s - before.all_busy_s) - (after.own_s - before.own_s)
    return max(0.0, others / window) if window > 0 else 0.0


def physical_cores(cores: set[int], sys_cpu: Path = Path("/sys/devices/system/cpu")) -> int:
    """Cores, counting hyper-threads of one core once (torch's default thread count is one of the two)."""
    siblings = set()
    for core in cores:
        try:
            siblings.add((sys_cpu / f"cpu{core}" / "topology" / "thread_siblings_list").read_text().strip())
        except OSError:
            siblings.add(str(core))
    return len(siblings)


def threads_for(free_cores: float, most: int) -> int:
    return max(1, min(most, math.floor(free_cores + SPARE_SHARE)))


class CpuThreads:
    """Chooses torch's intra-op thread count for a run, and changes it when other work comes or goes."""

    def __init__(self, setting: int | str, processes_here: int = 1):
        self.cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
        self.previous = torch.get_num_threads()
        self.most = max(1, self.previous // processes_here)  # never more than torch's own choice
        torch_default = self.previous in (len(self.cores), physical_cores(self.cores))
        if isinstance(setting, int):
            self.mode, self.threads = "train.num_threads", setting
        elif os.environ.get("OMP_NUM_THREADS") or not torch_default:
            self.mode, self.threads = "set before the run", self.previous
        else:
            self.mode, self.threads = "auto", self.most
        self.last = read_sample(self.cores) if self.mode == "auto" else None
        self.others = 0.0
        if self.last is None and self.mode == "auto":
            self.mode = "auto (no /proc to read: torch's choice)"

    def start(self) -> str:
        """Called just before training: set the count and say how it was chosen."""
        if self.last is not None:
            time.sleep(max(0.0, MIN_WINDOW_S - (time.monotonic() - self.last.wall_s)))
            self.adjust()
        torch.set_num_threads(self.threads)
        busy = f"; other processes keep {self.others:.1f} busy" if self.last is not None else ""
        return f"CPU threads: {self.threads} ({self.mode}; {len(self.cores)} cores{busy})"

    def maybe_adjust(self) -> str | None:
        """Called after optimizer steps: every RECHECK_EVERY_S, look again; a message when the count changed."""
        if self.last is None or time.monotonic() - self.last.wall_s < RECHECK_EVERY_S:
            return None
        before = self.threads
        self.adjust()
        if self.threads == before:
            return None
        torch.set_num_threads(self.threads)
        return f"CPU threads: {before} -> {self.threads} (other processes keep {self.others:.1f} cores busy)"

    def adjust(self) -> None:
        now = read_sample(self.cores)
        if now is None or now.wall_s - self.last.wall_s < MIN_WINDOW_S:
            return
        self.others = others_busy_cores(self.last, now)
        self.threads = threads_for(self.most - self.others, self.most)
        self.last = now

    def restore(self) -> None:
        """After the run: the count the process had before."""
        torch.set_num_threads(self.previous)
