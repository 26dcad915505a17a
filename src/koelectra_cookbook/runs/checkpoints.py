"""Resumable checkpoints in <run>/checkpoints/step-XXXXXXXX/, in files that cannot run code when read.

    model.safetensors                     the weights
    optimizer.safetensors, optimizer.json the optimizer's moments, and its groups and settings
    rng-<process>.safetensors, .json      each process's random number generators
    trainer_state.json                    the trainer's own state (loop position, schedule, early stopping...)
    manifest.json                         every other file's size and SHA-256

Nothing is pickled, so resuming a run folder that came from someone else runs none of their code. A checkpoint
is written into a hidden folder and renamed into place once complete. On resume, the newest checkpoint whose
files match the manifest and fit the model and optimizer is restored; a damaged one is reported and the one
before it tried.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from accelerate import Accelerator
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.atomic import finish_folder, start_folder
from koelectra_cookbook.files.checksums import file_sha256
from koelectra_cookbook.files.safe_json import DamagedState, read_json
from koelectra_cookbook.runs.checkpoint_files import (check_model_tensors, checked_rng, model_tensors, optimizer_files,
                                                      optimizer_state, rng_files)

STEP_FOLDER = re.compile(r"step-\d{8}")
MANIFEST = "manifest.json"
TRAINER_STATE = "trainer_state.json"


class CheckpointManager:
    """Saves and finds the run's checkpoints, keeping the newest `keep` (and the best one, when told)."""

    def __init__(self, directory: Path, keep: int):
        self.directory = Path(directory)
        self.keep = keep

    def save(self, accelerator: Accelerator, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
             trainer_state: dict, keep_step: int | None = None) -> Path:
        """Write everything needed to continue from `step`. Every process must call this (each saves its
        own generator states); `keep_step` names a checkpoint that pruning must spare (the best one)."""
        final = self.directory / f"step-{step:08d}"
        partial = final.with_name(f".{final.name}.partial")  # start_folder's name, known to every process
        try:
            if accelerator.is_main_process:
                start_folder(final)
            accelerator.wait_for_everyone()
            rng_json, rng_tensors = rng_files()
            _write_pair(partial / f"rng-{accelerator.process_index}", rng_json, rng_tensors)
            if accelerator.is_main_process:
                save_file(model_tensors(accelerator.unwrap_model(model)), str(partial / "model.safetensors"))
                _write_pair(partial / "optimizer", *optimizer_files(optimizer))
                (partial / TRAINER_STATE).write_text(json.dumps(trainer_state, indent=1), encoding="utf-8")
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                files = {p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
                         for p in sorted(partial.iterdir()) if p.is_file()}
                (partial / MANIFEST).write_text(json.dumps(files, indent=1), encoding="utf-8")
                finish_folder(partial, final)
                self._prune(keep_step)
        except OSError as exc:  # a full or vanished disk: say so; the previous checkpoint is untouched
            shutil.rmtree(partial, ignore_errors=True)
            raise UserError(f"cannot write checkpoint {final} ({exc.strerror or exc}); the previous checkpoints in "
                            f"{self.directory} are intact: free some space, then --resume") from None
        accelerator.wait_for_everyone()
        return final

    def restore(self, accelerator: Accelerator, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                check_trainer_state: Callable[[dict, int], None]) -> tuple[Path, dict] | None:
        """Restore the newest checkpoint that is whole and fits; returns (its folder, the trainer state), or
        None when there is no checkpoint. `check_trainer_state(state, step)` raises DamagedState for a state
        the trainer cannot continue from. Damaged checkpoints are reported and passed over; when every one
        is damaged, that is an error (starting over would replace the run's results)."""
        if self.directory.exists() and not self.directory.is_dir():
            raise UserError(f"{self.directory} is a file, not a folder of checkpoints")
        if accelerator.is_main_process:  # writes a kill or a second Ctrl-C cut short
            for unfinished in [*self.directory.glob(".step-*.partial"), *self.directory.glob(".step-*.old")]:
                shutil.rmtree(unfinished, ignore_errors=True)
        candidates = self.candidates()
        for candidate in candidates:
            try:
                contents = self._read(candidate, accelerator.process_index, model, optimizer)
                check_trainer_state(contents["trainer_state"], int(candidate.name.removeprefix("step-")))
            except DamagedState as problem:
                accelerator.print(f"warning: skipping checkpoint {candidate}: {problem}")
                continue
            model.load_state_dict(contents["model"])
            optimizer.load_state_dict(contents["optimizer"])
            contents["restore_rng"]()
            return candidate, contents["trainer_state"]
        if candidates:
            raise UserError(f"none of the {len(candidates)} checkpoints in {self.directory} can be resumed from (see "
                            f"the warnings); to start the run over, move that folder away first")
        return None

    def candidates(self) -> list[Path]:
        """Checkpoint folders, newest first (hidden, unfinished ones are not candidates)."""
        if not self.directory.is_dir():
            return []
        return sorted((p for p in self.directory.glob("step-*") if STEP_FOLDER.fullmatch(p.name) and p.is_dir()),
                      reverse=True)

    def load_weights(self, step: int, model: torch.nn.Module) -> None:
        """Load the weights of checkpoint `step` into `model` (the best model, at the end of a run)."""
        checkpoint = self.directory / f"step-{step:08d}"
        try:
            _verify(checkpoint)
            tensors = check_model_tensors(_load_tensors(checkpoint / "model.safetensors"), model, str(checkpoint))
        except DamagedState as problem:
            raise UserError(f"the best checkpoint {checkpoint} is damaged ({problem}); its weights cannot be "
                            f"exported") from None
        model.load_state_dict(tensors)

    def _read(self, checkpoint: Path, process_index: int, model, optimizer) -> dict:
        """Everything a checkpoint holds, checked against the live model and optimizer; nothing applied yet."""
        _verify(checkpoint, process_index)
        model_state = check_model_tensors(_load_tensors(checkpoint / "model.safetensors"), model, str(checkpoint))
        optimizer_json, optimizer_tensors = _read_pair(checkpoint / "optimizer")
        rng = checkpoint / f"rng-{process_index}"
        # No generator states for this process when resumed with more processes than the run had.
        restore_rng = checked_rng(*_read_pair(rng), where=f"{checkpoint}/rng") if rng.with_suffix(".json").is_file() \
            else _keep_the_generators
        trainer_state = read_json(checkpoint / TRAINER_STATE)
        if not isinstance(trainer_state, dict):
            raise DamagedState(f"{TRAINER_STATE} is not a mapping")
        return {"model": model_state, "restore_rng": restore_rng, "trainer_state": trainer_state,
                "optimizer": optimizer_state(optimizer_json, optimizer_tensors, optimizer, "optimizer.json")}

    def keep_only(self, steps: set[int]) -> list[Path]:
        """Remove every checkpoint but those of `steps` (a finished run's newest and best). Returns the kept."""
        kept = []
        for checkpoint in self.candidates():
            if int(checkpoint.name.removeprefix("step-")) in steps:
                kept.append(checkpoint)
            else:
                shutil.rmtree(checkpoint, ignore_errors=True)
        return kept

    def _prune(self, keep_step: int | None) -> None:
        spare = f"step-{keep_step:08d}" if keep_step is not None else None
        for old in self.candidates()[self.keep:]:
            if old.name != spare:
                shutil.rmtree(old, ignore_errors=True)


def _verify(checkpoint: Path, process_index: int = 0) -> None:
    """DamagedState unless the manifest lists exactly the checkpoint's files, the ones a restore reads among
    them, each a regular file with its size and SHA-256."""
    files = read_json(checkpoint / MANIFEST)
    if not isinstance(files, dict) or not all(isinstance(entry, dict) for entry in files.values()):
        raise DamagedState("the manifest is not a mapping of files")
    present = {p.name for p in checkpoint.iterdir()} - {MANIFEST}
    for name in sorted(set(files) ^ present):
        if Path(name).name != name:
            raise DamagedState(f"the manifest entry {name!r} is not a file of this checkpoint")
        raise DamagedState(f"{name} is {'missing' if name in files else 'not listed in the manifest'}")
    needed = {"model.safetensors", "optimizer.safetensors", "optimizer.json", TRAINER_STATE}
    if not needed <= set(files):
        raise DamagedState(f"{sorted(needed - set(files))[0]} is missing")
    for name, expected in files.items():
        path = checkpoint / name
        if path.is_symlink() or not path.is_file():
            raise DamagedState(f"{name} is not a regular file")
        if path.stat().st_size != expected.get("bytes"):
            raise DamagedState(f"{name} has {path.stat().st_size} bytes, expected {expected.get('bytes')} (truncated?)")
        if file_sha256(path) != expected.get("sha256"):
            raise DamagedState(f"{name} does not match its checksum (damaged on disk or edited)")


def _keep_the_generators() -> None:
    pass


def _write_pair(stem: Path, stored_json, tensors: dict[str, torch.Tensor]) -> None:
    save_file(tensors, str(stem.with_suffix(".safetensors")))
    stem.with_suffix(".json").write_text(json.dumps(stored_json), encoding="utf-8")


def _read_pair(stem: Path):
    return read_json(stem.with_suffix(".json")), _load_tensors(stem.with_suffix(".safetensors"))


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError, ValueError) as exc:
        raise DamagedState(f"{path.name} is not a readable safetensors file ({exc})") from None
