"""Training state as safetensors and JSON, read back with every value checked before it is used.

A checkpoint may come from someone else (a zip file, a shared disk), so reading one must never run code:
nothing here is unpickled. Tensors (weights, optimizer moments, random generator states) go to safetensors
files; everything else (numbers, lists, flags) to JSON. What is read back is compared with what the live
object expects (keys, types, shapes) and a mismatch raises `DamagedState`, so the caller can fall back to an
older checkpoint instead of crashing halfway through a restore.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from koelectra_cookbook.errors import shown
from koelectra_cookbook.files.safe_json import DamagedState, describe, check_like
from koelectra_cookbook.files.values import parse_whole_number


# --- model weights ---------------------------------------------------------------------------------------

def model_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state as separate CPU tensors (safetensors refuses tensors that share memory)."""
    tensors, seen = {}, set()
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        pointer = tensor.untyped_storage().data_ptr()
        tensors[name] = tensor.clone() if pointer in seen else tensor
        seen.add(pointer)
    return tensors


def check_model_tensors(loaded: dict[str, torch.Tensor], model: torch.nn.Module, where: str) -> dict:
    """`loaded` if it has exactly the model's tensor names, shapes and dtypes, else DamagedState."""
    expected = model.state_dict()
    if set(loaded) != set(expected):
        missing, unexpected = sorted(set(expected) - set(loaded)), sorted(set(loaded) - set(expected))
        raise DamagedState(f"{where}: tensor names differ from the model's (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")
    for name, tensor in loaded.items():
        if tensor.shape != expected[name].shape or tensor.dtype != expected[name].dtype:
            raise DamagedState(f"{where}: {name} is {tuple(tensor.shape)} {tensor.dtype}, the model's is "
                               f"{tuple(expected[name].shape)} {expected[name].dtype}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise DamagedState(f"{where}: {name} holds values that are not finite")
    return loaded


# --- optimizer -------------------------------------------------------------------------------------------

def optimizer_files(optimizer: torch.optim.Optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
    """The optimizer's state split into JSON (param groups, numbers) and tensors (moments, step counts)."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    state = {}
    for index, entry in state_dict["state"].items():
        state[str(index)] = {}
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
                state[str(index)][name] = {"tensor": f"{index}.{name}"}
            else:
                state[str(index)][name] = value
    return {"state": state, "param_groups": state_dict["param_groups"]}, tensors


def optimizer_state(stored: Any, tensors: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
                    where: str) -> dict:
    """A state dict for `optimizer.load_state_dict`, rebuilt from `optimizer_files` output and checked against
    the live optimizer: the same groups and settings (only the learning rate moves with the schedule), and per
    parameter exactly the entries this optimizer keeps, finite, shaped like the parameter."""
    reference = optimizer.state_dict()
    if not isinstance(stored, dict) or set(stored) != {"state", "param_groups"}:
        raise DamagedState(f"{where}: expected the keys ['param_groups', 'state'], found {describe(stored)}")
    groups = check_like(stored["param_groups"], reference["param_groups"], f"{where}.param_groups")
    for index, (saved, live) in enumerate(zip(groups, reference["param_groups"])):
        changed = next((key for key in live if key != "lr" and saved[key] != live[key]), None)
        if changed is not None:
            raise DamagedState(f"{where}.param_groups[{index}].{changed} is {shown(saved[changed])}, but this run's is "
                               f"{shown(live[changed])}")
        if not (math.isfinite(saved["lr"]) and saved["lr"] >= 0):
            raise DamagedState(f"{where}.param_groups[{index}].lr is {saved['lr']}")
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    entry_scalars = _state_entry_scalars(optimizer)
    if not isinstance(stored["state"], dict):
        raise DamagedState(f"{where}.state: expected a mapping, found {describe(stored['state'])}")
    state: dict[int, dict] = {}
    for key, entry in stored["state"].items():
        index = parse_whole_number(key) if key.isascii() and key.isdigit() else None  # "²" passes isdigit()
        if index is None or index >= len(parameters) or not isinstance(entry, dict) \
                or set(entry) != set(entry_scalars):
            raise DamagedState(f"{where}.state[{shown(key)}]: expected the entries {sorted(entry_scalars)}")
        shape = parameters[index].shape
        state[index] = {}
        for name, value in entry.items():
            tensor = tensors.get(value.get("tensor")) if isinstance(value, dict) else None
            expected = () if entry_scalars[name] else shape
            if tensor is None or tensor.shape != expected or not tensor.is_floating_point() \
                    or not torch.isfinite(tensor).all():
                raise DamagedState(f"{where}: {key}.{name} is missing, not finite, or not shaped {tuple(expected)}")
            state[index][name] = tensor
    return {"state": state, "param_groups": groups}


def _state_entry_scalars(optimizer: torch.optim.Optimizer) -> dict[str, bool]:
    """The entries this optimizer keeps per parameter, and which of them are scalars (AdamW: step) rather than
    shaped like the parameter (exp_avg, exp_avg_sq): read off a twin that took one step on a small tensor."""
    inner = getattr(optimizer, "optimizer", optimizer)  # Accelerate wraps the optimizer
    probe = torch.zeros(3, requires_grad=True)
    accepted = inspect.signature(type(inner)).parameters  # AdamW keeps a default it does not take as an argument
    twin = type(inner)([probe], **{k: v for k, v in inner.defaults.items() if k in accepted})
    probe.grad = torch.ones(3)
    twin.step()
    return {name: value.dim() == 0 for name, value in twin.state[probe].items()}


# --- random number generators ----------------------------------------------------------------------------

def rng_files() -> tuple[dict, dict[str, torch.Tensor]]:
    """This process's generator states: torch (CPU and every CUDA device) as tensors, numpy and Python as JSON."""
    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"cuda.{i}": state for i, state in enumerate(torch.cuda.get_rng_state_all())})
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    return {"numpy": [name, keys.tolist(), position, has_gauss, cached_gaussian],
            "python": [version, list(python_state), gauss_next]}, tensors


def checked_rng(stored: Any, tensors: dict[str, torch.Tensor], where: str) -> Callable[[], None]:
    """From `rng_files` output, a function that sets every generator; everything is checked first, so a bad
    file raises DamagedState here and nothing is set."""
    _, reference_tensors = rng_files()
    if set(tensors) != set(reference_tensors):
        raise DamagedState(f"{where}: generator states {sorted(tensors)}, expected {sorted(reference_tensors)}")
    for name, tensor in tensors.items():
        if tensor.dtype != torch.uint8 or tensor.shape != reference_tensors[name].shape:
            raise DamagedState(f"{where}: {name} is not a generator state")
    try:
        name, keys, position, has_gauss, cached_gaussian = stored["numpy"]
        version, python_state, gauss_next = stored["python"]
        numpy_state = (name, np.array(keys, dtype=np.uint32), position, has_gauss, cached_gaussian)
        python_full_state = (version, tuple(python_state), gauss_next)
        if name != "MT19937" or len(keys) != 624 or not all(type(k) is int and 0 <= k < 2**32 for k in keys):
            raise ValueError("numpy's state is not an MT19937 state")
        np.random.RandomState().set_state(numpy_state)  # checks the state without touching the global one
        random.Random().setstate(python_full_state)
        generator = torch.Generator()
        generator.set_state(tensors["torch"])
    except (TypeError, ValueError, KeyError, OverflowError, RuntimeError) as exc:
        raise DamagedState(f"{where}: {exc}") from None

    def restore() -> None:
        np.random.set_state(numpy_state)
        random.setstate(python_full_state)
        torch.set_rng_state(tensors["torch"])
        for device, tensor in tensors.items():
            if device.startswith("cuda."):
                torch.cuda.set_rng_state(tensor, int(device.split(".")[1]))
    return restore
