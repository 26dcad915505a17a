"""What a model folder holds, checked without loading anything: weights only as safetensors, lying in the folder
itself. Light on purpose (no torch, no transformers): predict.py's int8 path reads a model through this alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from koelectra_cookbook.classifier.names import OUTPUT_COLUMNS
from koelectra_cookbook.classifier.model_folder import CONFIG_FILE, ModelFolder, read_model_folder
from koelectra_cookbook.errors import UserError, shown

# Weight files transformers can read. Only safetensors are loaded: the others are pickles (or formats we do not
# read), and unpickling a file from elsewhere can run any code in it.
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


def check_safe_weights(name_or_path: str | Path, saved: ModelFolder | None = None) -> None:
    """A local checkpoint folder must hold its weights as safetensors, in the folder itself; pickled weights are
    refused, never read, and so is a quantized checkpoint. (A Hub id is loaded with use_safetensors=True, which
    refuses pickles the same way.) `saved`: the folder's config.json, when the caller has read it already."""
    folder = Path(name_or_path).expanduser()
    if not folder.is_dir():
        return
    index = folder / "model.safetensors.index.json"
    if index.exists():
        _check_shard_index(index)
    elif not (folder / "model.safetensors").is_file():
        pickled = next((name for name in PICKLED_WEIGHTS if (folder / name).exists()), None)
        if pickled is not None:
            raise UserError(f"model {folder}: its weights are in {pickled}, a pickle, which can run code when loaded; "
                            f"only safetensors weights are read. Convert them where you trust the file: "
                            f"from_pretrained() then save_pretrained() writes model.safetensors")
        raise UserError(f"model {folder}: no weights (model.safetensors) in it")
    if saved is None and (folder / CONFIG_FILE).is_file():
        saved = read_model_folder(folder)
    if saved is not None and saved.quantized:
        raise UserError(f"model {folder}: a quantized checkpoint (quantization_config in config.json); give the "
                        f"full-precision model")


def _check_shard_index(index: Path) -> None:
    """A sharded checkpoint's index may only name safetensors files that lie in its own folder: transformers
    would otherwise unpickle a .bin shard it names, or read files from anywhere."""
    try:
        if not index.is_file() or index.stat().st_size > 64 * 2**20:
            raise ValueError("not a regular file of reasonable size")
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise UserError(f"{index}: not a readable index of weight files ({exc})") from None
    for shard in shards:
        path = index.parent / str(shard)
        if not isinstance(shard, str) or Path(shard).name != shard or not shard.endswith(".safetensors"):
            raise UserError(f"{index}: names {shown(shard)}, which is not a safetensors file in the model's folder")
        if path.is_symlink() or not path.is_file():
            raise UserError(f"{index}: names {shard}, which is not a regular file in {index.parent}")


def check_local_path(name_or_path: str) -> None:
    looks_local = name_or_path.startswith((".", "/", "~")) or Path(name_or_path).exists()
    if looks_local and not Path(name_or_path).expanduser().is_dir():
        raise UserError(f"model.name_or_path: directory {name_or_path!r} does not exist")


def check_saved_model(folder: ModelFolder) -> None:
    """What a saved model's config.json says, checked before anything loads (no torch): its labels and
    thresholds, and that a sentence-pair model has token types for both texts."""
    if folder.id2label is None and folder.num_labels is None:
        raise UserError(f"--model {folder.path}: not a fine-tuned classifier (its config.json names no labels, "
                        f"id2label); give the model/ folder of a training run (RUN_DIR/model)")
    label_settings(folder.path, folder)
    check_token_types(folder, str(folder.path), folder.sentence_pair)


def check_token_types(config, name_or_path: str, sentence_pair: bool) -> None:
    """A sentence pair's second text is token type 1: a model whose type table (type_vocab_size in config.json,
    or `config`'s attribute) has fewer than two rows fails with an index error in its embeddings."""
    types = getattr(config, "type_vocab_size", None)
    if sentence_pair and isinstance(types, int) and not isinstance(types, bool) and types < 2:
        raise UserError(f"model {name_or_path}: type_vocab_size is {types}, so it has no token type for the second "
                        f"text of a pair; choose an encoder with two token types (ELECTRA, BERT), or train on "
                        f"one text a row")


def label_settings(model_dir: Path, config: ModelFolder) -> tuple[list[str], np.ndarray]:
    """The label names (id order) and decision thresholds of config.json (or of what claims to hold them, with
    the same attributes: an int8 cache entry's manifest), checked."""
    count = config.num_labels if isinstance(config.num_labels, int) and config.num_labels > 0 else None
    try:
        names = [str(config.id2label[i]) for i in range(count)]
    except (KeyError, TypeError):
        which = f"labels 0 to {count - 1}" if count else "its labels (num_labels and id2label)"
        raise UserError(f"{model_dir / 'config.json'}: id2label must name {which}") from None
    config_file = model_dir / "config.json"
    if len(set(names)) < len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise UserError(f"{config_file}: id2label names {shown(twice)} twice; each label needs its own name")
    if getattr(config, "regression", False) and len(names) != 1:
        raise UserError(f"{config_file}: problem_type is regression, which predicts one score, but id2label names "
                        f"{len(names)} labels")
    if getattr(config, "multi_label", False) and set(names) & set(OUTPUT_COLUMNS):
        raise UserError(f"{config_file}: a multi-label label may not be called "
                        f"{shown(sorted(set(names) & set(OUTPUT_COLUMNS))[0])} (the predictions have a column of "
                        f"that name)")
    thresholds = getattr(config, "thresholds", None)
    thresholds = [0.5] * len(names) if thresholds is None else thresholds
    if not isinstance(thresholds, list) or len(thresholds) != len(names) or not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and 0 <= t <= 1 for t in thresholds):
        raise UserError(f"{model_dir / 'config.json'}: thresholds must be one number in [0, 1] per label "
                        f"({len(names)})")
    return names, np.asarray(thresholds, dtype=np.float64)
