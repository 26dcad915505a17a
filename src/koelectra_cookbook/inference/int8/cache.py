"""Int8 prediction on the CPU (`predict.py --quantize int8`) with ONNX Runtime.

This module is the cache. The first call for a model builds its int8 copy (export.py, with torch) and caches it together with the
model's tokenizer and label settings. Every later call predicts from the cache entry alone, with ONNX Runtime and
the tokenizers library: it imports neither torch nor transformers, which took seconds of every call's start-up.
docs/benchmarks.md says why this route and not PyTorch's own int8.

The cache is content-addressed: an entry's folder is named by a hash of the model folder's files (config,
weights, tokenizer), of the model's kind (one text or a sentence pair, classes or a regression score) and of the
export settings (format.py), so a retrained model gets a new entry and an old one is never used for it. It lives
in the user's cache folder (`$XDG_CACHE_HOME/koelectra-cookbook/int8`, or `~/.cache/...`), not in the model's
folder: model folders may be read-only or on a shared disk, and a run's folder holds only what its run wrote.
An entry is built in a temporary folder and renamed into place whole. When read back it is treated like any file
from elsewhere, and what it claims is checked against the model folder it serves, not against itself: its
manifest must name its own key and the size and SHA-256 of each of its files, and its labels, thresholds and kind
must be those of the model's config.json (which then supplies them); its ONNX model must carry the key (computed
afresh from the model folder's files) and the tokenizer's hash in its metadata, so another model's int8 file
copied in is not served; it must take the inputs of the model's kind (a pair model's include token_type_ids) and
give one output per label (one score for regression). An entry that fails is reported and built again. ONNX files
are protobuf and tokenizer.json is JSON, so reading them runs no code. When the cache folder cannot be written,
the int8 model is built in a temporary folder and used once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from koelectra_cookbook.classifier.folder_checks import label_settings
from koelectra_cookbook.classifier.model_folder import ModelFolder
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.atomic import atomic_folder, atomic_write
from koelectra_cookbook.files.checksums import file_sha256
from koelectra_cookbook.inference.int8.format import (EXPORT_SETTINGS, INSTALL_HINT, LIBRARIES, MANIFEST, ONNX_FILE,
                                                      TOKENIZER_FILE)
from koelectra_cookbook.inference.int8.runtime import Int8Classifier, open_entry


def check_quantize_option(quantize: str | None, processes) -> None:
    """`--quantize` takes `int8`, runs on the CPU only, and needs ONNX Runtime installed."""
    if quantize is None:
        return
    if quantize != "int8":
        raise UserError(f"--quantize {quantize!r}: the only choice is int8")
    device = processes.device() if processes.may_use_a_gpu() else None
    if device is not None and device.type != "cpu":
        raise UserError(f"--quantize int8 runs on the CPU, but this process predicts on {device}; leave "
                        f"--quantize out on a GPU (it is faster there in full precision), or hide the GPU with "
                        f"CUDA_VISIBLE_DEVICES=\"\"")
    # Looked up, not imported: onnxscript (which torch.onnx's exporter needs) takes a second to import, and a
    # call that finds its int8 model in the cache never exports.
    missing = [name for name in ["onnxruntime", "onnx", "onnxscript"] if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"--quantize int8 needs ONNX Runtime, which is not installed ({missing[0]} is missing): "
                        f"{INSTALL_HINT}")


def load_int8_classifier(model: ModelFolder, processes, cache_dir: Path | None = None) -> Int8Classifier:
    """The int8 model of the saved `model`, from the cache or built into it. Under several processes the main one
    builds and the others then read its entry."""
    entry = (cache_dir or default_cache_dir()) / cache_key(model.path, model.kind)
    with processes.main_first():
        folder, classifier = entry, open_verified_entry(entry, model)
        if classifier is None:
            folder = build_entry(entry, model)
            classifier = open_verified_entry(folder, model)
            if classifier is None:  # what was just built fails its own checks: a bug, not the user's
                raise RuntimeError(f"the int8 model built in {folder} does not pass its checks")
    if folder != entry:  # built for this run only: the classifier holds what it needs in memory now
        shutil.rmtree(folder.parent, ignore_errors=True)
    return classifier


def open_verified_entry(entry: Path, model: ModelFolder) -> Int8Classifier | None:
    """The classifier of the cache entry `entry` of `model`, when the entry is whole and model's own; None (with a
    note) when there is none or it is damaged or another model's, and it is then built again."""
    manifest = verified_manifest(entry, model)
    if manifest is None:
        return None
    classifier = open_entry(entry, {**model_settings(model), "pad_token_id": manifest["settings"]["pad_token_id"]})
    if classifier.identity != entry_identity(entry.name, manifest["files"][TOKENIZER_FILE]["sha256"]):
        report_unusable(entry)
        return None
    return classifier


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "koelectra-cookbook" / "int8"


def cache_key(model_dir: Path, kind: dict[str, bool]) -> str:
    """SHA-256 of the export settings, the model's kind, the library versions, and the name and bytes of every
    regular file in the model folder but its model card (check_safe_weights has checked what the folder holds)."""
    versions = {name: importlib.metadata.version(name) for name in LIBRARIES}
    digest = hashlib.sha256(json.dumps({**EXPORT_SETTINGS, **versions, "kind": kind}, sort_keys=True).encode())
    for path in sorted(model_dir.iterdir()):
        if path.is_file() and path.name != "README.md" and not path.name.startswith("."):
            digest.update(f"\0{path.name}\0".encode())
            digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def verified_manifest(entry: Path, model: ModelFolder) -> dict | None:
    """The entry's manifest when the entry is whole and claims what `model`'s config.json says (labels,
    thresholds, kind); None when there is none or it is damaged or another model's (it is then rebuilt)."""
    manifest_file = entry / MANIFEST
    if not manifest_file.is_file():
        return None
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.stat().st_size < 2**20 \
            else None
        files = manifest.get("files") if isinstance(manifest, dict) else None
        whole = (isinstance(files, dict) and manifest.get("key") == entry.name
                 and sorted(files) == sorted([ONNX_FILE, TOKENIZER_FILE])
                 and all(whole_file(entry / name, facts) for name, facts in files.items())
                 and claims_of(manifest.get("settings"), model))
    except (OSError, ValueError, RecursionError):
        whole = False
    if not whole:
        report_unusable(entry)
        return None
    return manifest


def report_unusable(entry: Path) -> None:
    print(f"note: the cached int8 model {entry} is damaged or not this model's; building it again", file=sys.stderr)


def whole_file(path: Path, facts) -> bool:
    return (isinstance(facts, dict) and path.is_file() and not path.is_symlink()
            and facts.get("size") == path.stat().st_size and facts.get("sha256") == file_sha256(path))


def model_settings(model: ModelFolder) -> dict:
    """What an entry's model must predict, from the model folder's config.json (checked as full precision
    checks it): label names in id order, thresholds, and the model's kind."""
    labels, thresholds = label_settings(model.path, model)
    return {"labels": labels, "thresholds": thresholds.tolist(), "multi_label": model.multi_label, **model.kind}


def claims_of(settings, model: ModelFolder) -> bool:
    """Whether a manifest's settings claim what `model` says of itself, and name a padding id its vocabulary has."""
    if not isinstance(settings, dict):
        return False
    pad = settings.get("pad_token_id")
    vocabulary = model.vocab_size if model.vocab_size is not None else 2**31
    return (isinstance(pad, int) and not isinstance(pad, bool) and 0 <= pad < vocabulary
            and {name: settings.get(name) for name in model_settings(model)} == model_settings(model))


def entry_identity(key: str, tokenizer_sha256: str) -> dict[str, str]:
    """What an entry's ONNX model says it is, in its metadata: the cache key of the model folder it was built
    from, and the hash of the tokenizer built with it. A file copied from another entry says another key."""
    return {"koelectra_cookbook.cache_key": key, "koelectra_cookbook.tokenizer_sha256": tokenizer_sha256}


def build_entry(entry: Path, model: ModelFolder) -> Path:
    """Export, check and quantise the model into the cache entry; into a temporary folder (used once) when the
    cache cannot be written. Returns the folder built."""
    from koelectra_cookbook.inference.full_precision import FullPrecisionClassifier  # torch: only when building

    print("building the int8 model (once per model; later runs read it from the cache)", file=sys.stderr)
    classifier = FullPrecisionClassifier(model, device="cpu")
    if getattr(classifier.tokenizer, "backend_tokenizer", None) is None:
        raise UserError(f"--model {model.path}: --quantize int8 needs a fast tokenizer (tokenizer.json), and this "
                        f"model's tokenizer is not one; predict without --quantize")
    try:
        with atomic_folder(entry, replace=True, shared=True) as building:
            write_entry(building, entry.name, classifier)
        return entry
    except OSError as exc:
        print(f"note: cannot write the int8 cache {entry.parent} ({exc.strerror or exc}); quantising for this "
              f"run only", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="koelectra-int8-")) / entry.name
    scratch.mkdir()
    write_entry(scratch, entry.name, classifier)
    return scratch


def write_entry(folder: Path, key: str, classifier) -> None:
    """The int8 model, the tokenizer and the manifest naming them, in `folder`."""
    from koelectra_cookbook.inference.int8.export import write_int8_model

    # transformers sets its truncation on the Rust tokenizer (longest_first at max_seq_len, for pairs too), which
    # is saved with it: the runtime's encode_batch then cuts texts and pairs as full precision does
    if classifier.sentence_pair:
        classifier.pair_token_ids(["."], ["."], classifier.max_seq_len)
    else:
        classifier.token_ids(["."])
    atomic_write(folder / TOKENIZER_FILE, classifier.tokenizer.backend_tokenizer.to_str())
    write_int8_model(classifier.model, folder / ONNX_FILE, sentence_pair=classifier.sentence_pair,
                     metadata=entry_identity(key, file_sha256(folder / TOKENIZER_FILE)))
    settings = {"labels": classifier.label_names, "thresholds": classifier.thresholds.tolist(),
                "multi_label": classifier.multi_label, "pad_token_id": classifier.pad_token_id,
                "sentence_pair": classifier.sentence_pair, "regression": classifier.regression}
    files = {name: {"size": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
             for name in [ONNX_FILE, TOKENIZER_FILE]}
    atomic_write(folder / MANIFEST, json.dumps({"key": key, "files": files, "settings": settings}))


