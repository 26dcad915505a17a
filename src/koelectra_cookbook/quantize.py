"""Int8 prediction on the CPU (`predict.py --quantize int8`) with ONNX Runtime.

The classifier is exported to ONNX once (torch.onnx), its weights are quantised to int8 with ONNX Runtime's
dynamic quantisation (activations are quantised batch by batch as they come, so no calibration data is
needed), and the result is cached. docs/benchmarks.md says why this route and not PyTorch's own int8.

The cache is content-addressed: an entry's folder is named by a hash of the model's config.json and weights and
of the export settings below, so a retrained model gets a new entry and an old one is never used for it. It lives
in the user's cache folder (`$XDG_CACHE_HOME/koelectra-cookbook/int8`, or `~/.cache/...`), not in the model's
folder: model folders may be read-only or on a shared disk, and a run's folder holds only what its run wrote.
An entry is built in a temporary folder and renamed into place whole. When read back it is treated like any
file from elsewhere: its manifest must name its own key and the ONNX file's size and SHA-256, and the model it
holds must take the two inputs and give one output per label. ONNX files are protobuf, so reading one runs no
code. When the cache folder cannot be written, the int8 model is built in a temporary folder and used once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import torch

from .atomic import atomic_folder, atomic_write
from .errors import UserError
from .model import SAFE_WEIGHTS

INSTALL_HINT = 'pip install -e ".[int8]"'
# Everything that changes the file an entry holds: a change here (or another torch or onnxruntime version)
# gives new cache keys, so entries built the old way are never read.
EXPORT_SETTINGS = {"format": "onnx", "opset": 18, "fusions": "onnxruntime.transformers bert, opt_level 0",
                   "quantization": "dynamic int8 weights (QInt8), per tensor", "layout": 1}
ONNX_FILE = "model.int8.onnx"
MANIFEST = "manifest.json"
INPUTS = ["input_ids", "attention_mask"]


def check_quantize_option(quantize: str | None, device: torch.device) -> None:
    """`--quantize` takes `int8`, runs on the CPU only, and needs ONNX Runtime installed."""
    if quantize is None:
        return
    if quantize != "int8":
        raise UserError(f"--quantize {quantize!r}: the only choice is int8")
    if device.type != "cpu":
        raise UserError(f"--quantize int8 runs on the CPU, but this process predicts on {device}; leave "
                        f"--quantize out on a GPU (it is faster there in full precision), or hide the GPU with "
                        f"CUDA_VISIBLE_DEVICES=\"\"")
    # Looked up, not imported: onnxscript (which torch.onnx's exporter needs) takes a second to import, and a
    # call that finds its int8 model in the cache never exports.
    missing = [name for name in ["onnxruntime", "onnx", "onnxscript"] if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"--quantize int8 needs ONNX Runtime, which is not installed ({missing[0]} is missing): "
                        f"{INSTALL_HINT}")


class Int8Classifier:
    """An ONNX Runtime session that is called like a transformers classifier: `model(input_ids=...,
    attention_mask=...).logits`, with the model's `config`.

    The session computes each batch on one thread; `logits_in_order` gives several batches at once to a pool of
    `workers` threads (ONNX Runtime runs one session from several threads). Short batches of reviews keep one
    core busy with little work per operator, so a core per batch beats splitting each operator across the cores
    (docs/benchmarks.md)."""

    def __init__(self, session, config, workers: int = 1):
        self.session = session
        self.config = config
        self.workers = workers

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        feed = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(None, feed)[0]))

    def logits_in_order(self, batches: Iterable[dict]) -> Iterator[torch.Tensor]:
        """The logits of each batch (a dict with input_ids and attention_mask), in the order of `batches`."""
        def logits(batch: dict) -> torch.Tensor:
            return self(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

        if self.workers == 1:
            yield from map(logits, batches)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="int8") as pool:
            yield from pool.map(logits, batches)  # closing it (Ctrl-C) cancels the batches not started


def load_int8_classifier(model_dir: Path, load_full_precision, processes, cache_dir: Path | None = None):
    """The int8 model of `model_dir`, from the cache or built into it. `load_full_precision()` gives the checked
    float model (called only when the int8 model has to be built). Under several processes the main one builds
    and the others then read its entry."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(model_dir), trust_remote_code=False)
    entry = (cache_dir or default_cache_dir()) / cache_key(model_dir)
    with processes.main_first():
        onnx_file = verified_entry(entry)
        if onnx_file is None:
            onnx_file = build_entry(entry, load_full_precision)
        session = open_session(onnx_file, config)
    if onnx_file.parent != entry:  # built for this run only: the session holds the model in memory now
        shutil.rmtree(onnx_file.parent, ignore_errors=True)
    return Int8Classifier(session, config, workers=torch.get_num_threads())


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "koelectra-cookbook" / "int8"


def cache_key(model_dir: Path) -> str:
    """SHA-256 of the export settings, the library versions, config.json and every weight file's bytes."""
    import onnxruntime

    digest = hashlib.sha256(json.dumps({**EXPORT_SETTINGS, "torch": torch.__version__,
                                        "onnxruntime": onnxruntime.__version__}, sort_keys=True).encode())
    index = model_dir / SAFE_WEIGHTS[1]
    weights = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())) \
        if index.is_file() else [SAFE_WEIGHTS[0]]  # the index was checked by check_safe_weights
    for name in ["config.json", *weights]:
        digest.update(f"\0{name}\0".encode())
        with open(model_dir / name, "rb") as handle:
            digest.update(hashlib.file_digest(handle, "sha256").digest())
    return digest.hexdigest()


def verified_entry(entry: Path) -> Path | None:
    """The entry's ONNX file when the entry is whole and its own; None when there is none or it is damaged
    (it is then rebuilt)."""
    manifest_file, onnx_file = entry / MANIFEST, entry / ONNX_FILE
    if not manifest_file.is_file():
        return None
    try:
        manifest = json.loads(manifest_file.read_text(encoding="utf-8")) if manifest_file.stat().st_size < 4096 \
            else None
        whole = (isinstance(manifest, dict) and manifest.get("key") == entry.name and onnx_file.is_file()
                 and not onnx_file.is_symlink() and manifest.get("size") == onnx_file.stat().st_size
                 and manifest.get("sha256") == file_sha256(onnx_file))
    except (OSError, ValueError, RecursionError):
        whole = False
    if not whole:
        print(f"note: the cached int8 model {entry} is damaged or not this model's; building it again",
              file=sys.stderr)
        return None
    return onnx_file


def build_entry(entry: Path, load_full_precision) -> Path:
    """Export, check and quantise the model into the cache entry; into a temporary folder (used once) when the
    cache cannot be written."""
    print("building the int8 model (once per model; later runs read it from the cache)", file=sys.stderr)
    model = load_full_precision()
    try:
        with atomic_folder(entry, replace=True, shared=True) as building:
            write_int8_model(model, building, entry.name)
        return entry / ONNX_FILE
    except OSError as exc:
        print(f"note: cannot write the int8 cache {entry.parent} ({exc.strerror or exc}); quantising for this "
              f"run only", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="koelectra-int8-"))
    write_int8_model(model, scratch, entry.name)
    return scratch / ONNX_FILE


def write_int8_model(model: torch.nn.Module, folder: Path, key: str) -> None:
    """model.int8.onnx and its manifest in `folder`. The float export is checked against PyTorch before it is
    quantised, so an export that went wrong is a bug report, not quietly wrong predictions."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    float_file = folder / "model.float.onnx"
    export_onnx(model, float_file)
    check_export(model, float_file)
    float_file = fuse_transformer_operators(model, float_file)
    with quiet_logging():  # quantize_dynamic advises a pre-processing step that changed nothing here
        quantize_dynamic(float_file, folder / ONNX_FILE, weight_type=QuantType.QInt8)
    for scratch in folder.glob("model.float*.onnx"):
        scratch.unlink()
    onnx_file = folder / ONNX_FILE
    atomic_write(folder / MANIFEST, json.dumps({"key": key,
                                                "size": onnx_file.stat().st_size,
                                                "sha256": file_sha256(onnx_file)}))


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    """The classifier as an ONNX graph taking (input_ids, attention_mask) of any batch size and length."""
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=model.config.max_position_embeddings)
    example = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
    # The exporter's notes (axis names, deprecations, a missing torchvision) are not the user's.
    with warnings.catch_warnings(), quiet_logging():
        warnings.simplefilter("ignore")
        torch.onnx.export(LogitsOnly(model).eval(), example, str(path), dynamo=True, verbose=False,
                          opset_version=EXPORT_SETTINGS["opset"], input_names=INPUTS, output_names=["logits"],
                          external_data=False, dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}))


def fuse_transformer_operators(model: torch.nn.Module, float_file: Path) -> Path:
    """The float graph with ONNX Runtime's transformer fusions (the bias and residual additions joined to the
    layer norms, the bias to the GELU) made before quantising: the quantised model then runs a little faster than
    when ONNX Runtime fuses what is left at load time (docs/benchmarks.md). Encoders whose graph the fusions do
    not fit are left as exported: the fused graph must still give PyTorch's logits."""
    from onnxruntime.transformers.optimizer import optimize_model

    fused_file = float_file.with_suffix(".fused.onnx")
    with quiet_logging():
        fused = optimize_model(str(float_file), model_type="bert", num_heads=model.config.num_attention_heads,
                               hidden_size=model.config.hidden_size, opt_level=0)
    fused.save_model_to_file(str(fused_file))
    try:
        check_export(model, fused_file)
    except RuntimeError:
        return float_file
    return fused_file


@contextlib.contextmanager
def quiet_logging():
    """ONNX Runtime's tools log advice through the root logger; the user has nothing to do about it."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class LogitsOnly(torch.nn.Module):
    """The classifier with positional inputs and the logits as its only output, the shape an export takes."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


@torch.inference_mode()
def check_export(model: torch.nn.Module, path: Path) -> None:
    """The exported float graph must give PyTorch's logits on batches of other shapes than the example's, with
    padding, so the dynamic batch and length really are dynamic."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    for rows, length in [(1, 5), (3, 40)]:
        input_ids = torch.randint(5, model.config.vocab_size, (rows, length), generator=generator)
        attention_mask = torch.ones_like(input_ids)
        attention_mask[-1, length // 2:] = 0
        expected = model(input_ids=input_ids, attention_mask=attention_mask).logits.numpy()
        got = session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})[0]
        if got.shape != expected.shape or not abs(got - expected).max() <= 1e-3 * max(1.0, abs(expected).max()):
            raise RuntimeError(f"the ONNX export of the model does not reproduce its logits on a ({rows}, {length})"
                               f" batch; please report this with your torch and onnxruntime versions")


def open_session(onnx_file: Path, config):
    """An ONNX Runtime session on the CPU, with all graph optimisations, computing on the thread that calls it
    (Int8Classifier runs as many batches side by side as torch has threads, so OMP_NUM_THREADS and
    torch.set_num_threads apply). Its inputs and outputs must be a classifier's for this model's labels."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a file from the cache is not trusted: it may fail in any way
        raise UserError(f"{onnx_file}: not a readable int8 model ({' '.join(str(exc).split())[:200]}); delete "
                        f"the folder {onnx_file.parent} to rebuild it") from None
    inputs = [(i.name, i.type) for i in session.get_inputs()]
    outputs = session.get_outputs()
    if inputs != [(name, "tensor(int64)") for name in INPUTS] or len(outputs) != 1 \
            or outputs[0].shape[-1] != config.num_labels:
        raise UserError(f"{onnx_file}: not an int8 model of this classifier (its inputs or outputs differ); delete "
                        f"the folder {onnx_file.parent} to rebuild it")
    return session


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
