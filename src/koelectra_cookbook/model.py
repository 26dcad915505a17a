"""The classifier: any Hugging Face encoder checkpoint with a sequence-classification head (KoELECTRA by default)."""

from __future__ import annotations

from pathlib import Path

import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from .errors import UserError


def load_tokenizer(name_or_path: str):
    """The checkpoint's fast tokenizer; an unreachable or unknown checkpoint is a user error."""
    _check_local_path(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as exc:
        raise UserError(_cannot_load(name_or_path, exc)) from None


def load_model(name_or_path: str, label_names: list[str], attn_implementation: str = "sdpa",
               problem_type: str = "single_label_classification"):
    """Load the encoder with a fresh head of len(label_names) outputs.

    The label names go into the model config (id2label / label2id), so the saved model reports readable labels
    in `transformers.pipeline`. A checkpoint that already has a head of another size gets a new one.
    """
    _check_local_path(name_or_path)
    label_names = [str(name) for name in label_names]
    kwargs = dict(
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
        problem_type=problem_type,
        ignore_mismatched_sizes=True,
    )
    # The "newly initialised head" warning is expected when fine-tuning; keep the console for what matters.
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        try:
            return AutoModelForSequenceClassification.from_pretrained(
                name_or_path, attn_implementation=attn_implementation, **kwargs)
        except ValueError as exc:
            if "attn_implementation" not in str(exc) and "SDPA" not in str(exc).upper():
                raise
            # Not every architecture has fused attention; fall back to the reference implementation.
            return AutoModelForSequenceClassification.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as exc:
        raise UserError(_cannot_load(name_or_path, exc)) from None
    finally:
        transformers.logging.set_verbosity(verbosity)


def _check_local_path(name_or_path: str) -> None:
    looks_local = name_or_path.startswith((".", "/", "~")) or Path(name_or_path).exists()
    if looks_local and not Path(name_or_path).expanduser().is_dir():
        raise UserError(f"model.name_or_path: directory {name_or_path!r} does not exist")


def _cannot_load(name_or_path: str, exc: Exception) -> str:
    reason = " ".join(str(exc).split())[:300]
    return (f"cannot load model {name_or_path!r} ({reason}); without network, set model.name_or_path to a local "
            f"directory holding the checkpoint (config.json, weights, tokenizer files)")
