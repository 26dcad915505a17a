"""Resumable checkpoints in <run>/checkpoints/step-XXXXXXXX/, written so that a half-written one is never used.

A checkpoint is written into a hidden temporary folder, completed with a manifest of its files and their
sizes, and only then renamed into place. On resume, the newest folder whose manifest matches its files wins;
a damaged one is reported and skipped.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from accelerate import Accelerator

from .errors import UserError

MANIFEST = "manifest.json"
TRAINER_STATE = "trainer_state.json"


class CheckpointManager:
    """Saves and finds the run's checkpoints, keeping the newest `keep`."""

    def __init__(self, directory: Path, keep: int):
        self.directory = Path(directory)
        self.keep = keep

    def save(self, accelerator: Accelerator, step: int, trainer_state: dict) -> Path:
        """Save model, optimizer, scaler, registered objects and RNG states, plus `trainer_state`.
        Every process must call this (each saves its own RNG state)."""
        final = self.directory / f"step-{step:08d}"
        partial = self.directory / f".step-{step:08d}.partial"
        if accelerator.is_main_process:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
        accelerator.wait_for_everyone()
        try:
            accelerator.save_state(str(partial), safe_serialization=True)
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                (partial / TRAINER_STATE).write_text(json.dumps(trainer_state, indent=1))
                files = {str(p.relative_to(partial)): p.stat().st_size
                         for p in sorted(partial.rglob("*")) if p.is_file()}
                (partial / MANIFEST).write_text(json.dumps(files, indent=1))
                _fsync_dir(partial)
                shutil.rmtree(final, ignore_errors=True)
                os.replace(partial, final)
                self._prune()
        except OSError as exc:  # a full or vanished disk: say so; the previous checkpoint is untouched
            shutil.rmtree(partial, ignore_errors=True)
            raise UserError(f"cannot write checkpoint {final} ({exc.strerror or exc}); the previous checkpoints in "
                            f"{self.directory} are intact: free some space, then --resume") from None
        accelerator.wait_for_everyone()
        return final

    def latest(self) -> Path | None:
        """The newest complete checkpoint, or None. Damaged ones are reported and passed over."""
        for candidate in sorted(self.directory.glob("step-*"), reverse=True):
            problem = _problem_with(candidate)
            if problem is None:
                return candidate
            print(f"warning: skipping checkpoint {candidate}: {problem}", flush=True)
        return None

    @staticmethod
    def load(accelerator: Accelerator, checkpoint: Path) -> dict:
        """Restore everything `save` stored; returns the trainer state."""
        accelerator.load_state(str(checkpoint))
        return json.loads((checkpoint / TRAINER_STATE).read_text())

    def _prune(self) -> None:
        for old in sorted(self.directory.glob("step-*"))[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)


def _problem_with(checkpoint: Path) -> str | None:
    manifest = checkpoint / MANIFEST
    try:
        files = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return "no readable manifest (the write did not finish)"
    for name, size in files.items():
        path = checkpoint / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, expected {size} (truncated?)"
    return None


def _fsync_dir(directory: Path) -> None:
    """Flush the files' contents to disk before the rename makes the checkpoint visible."""
    for path in directory.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
