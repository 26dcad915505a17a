"""Predicting from an int8 cache entry with ONNX Runtime and the tokenizers library alone (no torch, no
transformers): an entry's session is opened, checked to be a classifier of its labels (taking token_type_ids too for
a sentence-pair model), and run on batches side by side."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from koelectra_cookbook.data.long_text import special_tokens
from koelectra_cookbook.data.token_cache import in_pieces, joined
from koelectra_cookbook.data.tokens import nfc, tokenizer_errors
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.values import parse_whole_number
from koelectra_cookbook.inference.int8.format import ONNX_FILE, TOKENIZER_FILE, input_names


class Int8Classifier:
    """A cache entry ready to predict: the ONNX Runtime session, the model's tokenizer and its label settings
    (`regression`: one output, a score; `sentence_pair`: two texts a row, as full_precision.py says them).

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
        self.regression = settings.get("regression", False)
        self.sentence_pair = settings.get("sentence_pair", False)
        self.inputs = input_names(self.sentence_pair)
        self.workers = workers

    @property
    def identity(self) -> dict[str, str]:
        """The metadata the ONNX model carries (cache.entry_identity says what the cache puts there)."""
        return dict(self.session.get_modelmeta().custom_metadata_map)

    @property
    def max_seq_len(self) -> int:
        """The saved tokenizer cuts at max_seq_len, as transformers set it before it was saved."""
        return int((self.tokenizer.truncation or {}).get("max_length", 512))

    @functools.cached_property
    def whole(self):
        """An uncut copy of the tokenizer: whole texts, for long_text.py to cut or window."""
        whole = type(self.tokenizer).from_str(self.tokenizer.to_str())
        whole.no_truncation()
        return whole

    @functools.cached_property
    def specials(self) -> tuple[list[int], list[int]]:
        """The token ids put before and after a text ([CLS] and [SEP])."""
        with tokenizer_errors():
            return special_tokens(lambda text, add: self.whole.encode(text, add_special_tokens=add).ids)

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        """The token ids transformers gives in full precision (encode_texts): the cached tokenizer is the Rust
        tokenizer transformers runs, saved with the truncation transformers set on it."""
        with tokenizer_errors():
            encodings = self.tokenizer.encode_batch(nfc(texts))
        return [np.asarray(encoding.ids, dtype=np.int32) for encoding in encodings]

    def document_ids(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each text, whole and without special tokens, as token_cache.encode_documents gives them
        (in pieces of at most PIECE_CHARS characters, so a huge line takes bounded memory)."""
        parts, owners = in_pieces(nfc(texts))
        encoded = []
        with tokenizer_errors():
            for start in range(0, len(parts), 256):
                encoded += [e.ids for e in self.whole.encode_batch(parts[start: start + 256], add_special_tokens=False)]
        return joined(encoded, owners, len(texts))

    def pair_token_ids(self, texts: list[str], pairs: list[str],
                       max_seq_len: int) -> tuple[list[np.ndarray], np.ndarray]:
        """The token ids of each pair cut to `max_seq_len` tokens and its first-segment length, as transformers
        gives them in full precision (token_cache.encode_rows): `[CLS] a [SEP] b [SEP]`, the longer text cut
        first. transformers hands pairs to this same Rust tokenizer with longest_first truncation, the truncation
        it was saved with (cache.write_entry), here at `max_seq_len`; the first segment is the tokens of type 0."""
        saved = self.tokenizer.truncation or {}
        if saved.get("max_length") != max_seq_len:
            self.tokenizer.enable_truncation(max_seq_len, stride=saved.get("stride", 0),
                                             strategy=saved.get("strategy", "longest_first"),
                                             direction=saved.get("direction", "right"))
        with tokenizer_errors():
            encodings = self.tokenizer.encode_batch(list(zip(nfc(texts), nfc(pairs))))
        ids = [np.asarray(encoding.ids, dtype=np.int32) for encoding in encodings]
        # len - sum, as tokenize_rows counts them from transformers' token_type_ids (0 or 1)
        firsts = np.asarray([len(e.type_ids) - sum(e.type_ids) for e in encodings], dtype=np.int32)
        return ids, firsts

    def logits(self, *batch: np.ndarray) -> np.ndarray:
        if len(batch) != len(self.inputs):
            raise ValueError(f"this int8 model takes {', '.join(self.inputs)}; the batch has {len(batch)} arrays")
        return self.session.run(None, dict(zip(self.inputs, batch)))[0]

    def logits_in_order(self, batches: Iterable[tuple[np.ndarray, ...]]) -> Iterator[np.ndarray]:
        """The logits of each (input_ids, attention_mask[, token_type_ids]) batch, in the order of `batches`."""
        if self.workers == 1:
            yield from (self.logits(*batch) for batch in batches)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="int8") as pool:
            yield from pool.map(lambda batch: self.logits(*batch), batches)  # closing it (Ctrl-C) cancels the rest


def open_entry(folder: Path, settings: dict) -> Int8Classifier:
    """The classifier of a verified entry, with `settings` (labels, thresholds, kind: the model folder's)."""
    from tokenizers import Tokenizer

    session = open_session(folder / ONNX_FILE, len(settings["labels"]), input_names(settings["sentence_pair"]))
    with tokenizer_errors(f"{folder / TOKENIZER_FILE}: not a readable tokenizer; delete the folder {folder} to "
                          f"rebuild it"):
        tokenizer = Tokenizer.from_str((folder / TOKENIZER_FILE).read_text(encoding="utf-8"))
    return Int8Classifier(session, tokenizer, settings, workers=cores_for_batches())


def open_session(onnx_file: Path, labels: int, inputs: list[str]):
    """An ONNX Runtime session on the CPU, with all graph optimisations, computing on the thread that calls it.
    Its inputs must be `inputs` (format.input_names) and its output a classifier's for `labels` labels."""
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
    found = [(i.name, i.type) for i in session.get_inputs()]
    outputs = session.get_outputs()
    if found != [(name, "tensor(int64)") for name in inputs] or len(outputs) != 1 or outputs[0].shape[-1] != labels:
        takes = ", ".join(" ".join(name.split())[:40] for name, _ in found[:4]) or "nothing"  # names from a file
        raise UserError(f"{onnx_file}: not an int8 model of this classifier (its inputs or outputs differ: it takes "
                        f"{takes}, and this model {', '.join(inputs)}); delete the folder {onnx_file.parent} to "
                        f"rebuild it")
    return session


def cores_for_batches() -> int:
    """How many batches run side by side: as many as torch has threads when the caller has loaded torch (so
    torch.set_num_threads applies), else OMP_NUM_THREADS (torchrun sets it for each process), else one per CPU
    this process may run on."""
    if "torch" in sys.modules:
        return sys.modules["torch"].get_num_threads()
    setting = parse_whole_number(os.environ.get("OMP_NUM_THREADS", ""))
    if setting is not None and setting > 0:
        return setting
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
