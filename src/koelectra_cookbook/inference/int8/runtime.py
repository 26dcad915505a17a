"""Predicting from an int8 cache entry with ONNX Runtime and the tokenizers library alone (no torch, no
transformers): an entry's session is opened, checked to be a classifier of its labels, and run on batches side by
side."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from koelectra_cookbook.data.tokens import nfc, tokenizer_errors
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.inference.int8.format import INPUTS, ONNX_FILE, TOKENIZER_FILE


class Int8Classifier:
    """A cache entry ready to predict: the ONNX Runtime session, the model's tokenizer and its label settings.

    The session computes each batch on one thread; `logits_in_order` gives several batches at once to a pool of
    `workers` threads (ONNX Runtime runs one session from several threads). Short batches of reviews keep one
    core busy with little work per operator, so a core per batch beats splitting each operator across the cores
    (docs/benchmarks.md)."""

    def __init__(self, session, tokenizer, settings: dict, workers: int = 1):
        self.session = session
        self.tokenizer = tokenizer
        self.label_names = settings["labels"]
        self.thresholds = np.asarray(settings["thresholds"], dtype=np.float64)
        self.multi_label = settings["multi_label"]
        self.pad_token_id = settings["pad_token_id"]
        self.workers = workers

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        """The token ids transformers gives in full precision (encode_texts): the cached tokenizer is the Rust
        tokenizer transformers runs, saved with the truncation transformers set on it."""
        with tokenizer_errors():
            encodings = self.tokenizer.encode_batch(nfc(texts))
        return [np.asarray(encoding.ids, dtype=np.int32) for encoding in encodings]

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def logits_in_order(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        """The logits of each (input_ids, attention_mask) batch, in the order of `batches`."""
        if self.workers == 1:
            yield from (self.logits(*batch) for batch in batches)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="int8") as pool:
            yield from pool.map(lambda batch: self.logits(*batch), batches)  # closing it (Ctrl-C) cancels the rest


def open_entry(folder: Path, settings: dict) -> Int8Classifier:
    """The classifier of a verified entry, with the settings of its manifest."""
    from tokenizers import Tokenizer

    session = open_session(folder / ONNX_FILE, len(settings["labels"]))
    with tokenizer_errors(f"{folder / TOKENIZER_FILE}: not a readable tokenizer; delete the folder {folder} to "
                          f"rebuild it"):
        tokenizer = Tokenizer.from_str((folder / TOKENIZER_FILE).read_text(encoding="utf-8"))
    return Int8Classifier(session, tokenizer, settings, workers=cores_for_batches())


def open_session(onnx_file: Path, labels: int):
    """An ONNX Runtime session on the CPU, with all graph optimisations, computing on the thread that calls it.
    Its inputs and outputs must be a classifier's for `labels` labels."""
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
    if inputs != [(name, "tensor(int64)") for name in INPUTS] or len(outputs) != 1 or outputs[0].shape[-1] != labels:
        raise UserError(f"{onnx_file}: not an int8 model of this classifier (its inputs or outputs differ); delete "
                        f"the folder {onnx_file.parent} to rebuild it")
    return session


def cores_for_batches() -> int:
    """How many batches run side by side: as many as torch has threads when the caller has loaded torch (so
    torch.set_num_threads applies), else OMP_NUM_THREADS (torchrun sets it for each process), else one per CPU
    this process may run on."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    setting = os.environ.get("OMP_NUM_THREADS", "")
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
