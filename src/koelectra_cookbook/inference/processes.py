"""Prediction shared between processes started by `torchrun` or `accelerate launch`.

Each process predicts its share of the batches and the shares are gathered, so every process ends with the
probabilities of every row, in input order, and the main process alone writes them. A single process (no
launcher) is the same code with one share: everything, and imports no torch until it is asked for a device (the
int8 path predicts without torch).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


class Processes:
    """The processes predicting together: how many, which one this is, and the device it predicts on."""

    def __init__(self, state=None):
        self.state = state  # accelerate's PartialState when several processes run, else None

    @classmethod
    def from_environment(cls) -> Processes:
        """Several processes when a launcher set WORLD_SIZE above 1 (torchrun and accelerate launch both do).
        Accelerate then joins the process group: gloo on CPUs, NCCL on GPUs, each process on its own device."""
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            return cls()
        import torch
        from accelerate import PartialState
        from accelerate.utils import parse_flag_from_env

        # Accelerate joins CPU processes only when told they run on CPUs (as the Accelerator is, by this flag).
        on_cpus = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available()
        return cls(PartialState(cpu=on_cpus))

    @property
    def count(self) -> int:
        return 1 if self.state is None else self.state.num_processes

    @property
    def rank(self) -> int:
        return 0 if self.state is None else self.state.process_index

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self) -> torch.device:
        """The launcher's device for this process; alone, the GPU when there is one."""
        import torch

        if self.state is not None:
            return torch.device(self.state.device)
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def may_use_a_gpu(self) -> bool:
        """Whether device() may be a GPU, told without importing torch where it can be: on Linux, CUDA and ROCm
        reach a GPU only through its device files, so one process on a machine without them predicts on the CPU."""
        if self.state is not None or sys.platform != "linux":
            return True
        return any(Path(name).exists() for name in ["/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg"])

    def share(self, batches: list[list[int]]) -> list[list[int]]:
        """This process's batches: every count-th one, starting at its rank. The batches are sorted by length,
        so neighbours cost about the same and each process gets about the same work (halves would give one
        process all the short rows). Each batch is one the single-process run would build, row for row, so the
        results are the same as that run's."""
        return batches[self.rank::self.count]

    def gather(self, rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every process's (row indices, values), joined in rank order, on every process. Sent as tensors padded
        to the longest share (gather_object would pickle them)."""
        if self.state is None:
            return rows, values
        import torch
        from accelerate.utils import gather, pad_across_processes

        device = self.device()
        lengths = gather(torch.tensor([len(rows)], device=device)).cpu().tolist()

        def joined(array: np.ndarray) -> np.ndarray:
            padded = pad_across_processes(torch.from_numpy(array).to(device), dim=0)
            shares = gather(padded).cpu().reshape(self.count, -1, *array.shape[1:]).numpy()
            return np.concatenate([share[:length] for share, length in zip(shares, lengths)])

        return joined(rows), joined(values)

    def finish(self) -> None:
        """Called once a process is done predicting: waits for the others (the main one writes the file) and
        leaves the process group. A process that exits with the group still open can abort in gloo's threads
        ("terminate called without an active exception", exit -6) and fail the launch after the work is done."""
        if self.state is None:
            return
        self.state.wait_for_everyone()
        self.state.destroy_process_group()

    def main_first(self):
        """A block the main process runs before the others (building a cache they then read)."""
        return contextlib.nullcontext() if self.state is None else self.state.main_process_first()
