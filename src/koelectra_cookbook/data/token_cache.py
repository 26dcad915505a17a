"""Tokenization, once: every text NFC-normalised (tokens.py) and tokenized in batches by the fast tokenizer,
then cached on disk under a key of the texts, the tokenizer and max_seq_len, so a second run reads the ids back.
A cache file is numpy arrays (never pickled objects); a damaged one is rebuilt, never trusted."""

from __future__ import annotations

import hashlib
import io
import tempfile
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from koelectra_cookbook.data.tokens import nfc, tokenizer_errors
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.atomic import atomic_write


def check_cache_dir(cache_dir: Path) -> None:
    """The token cache folder must be a folder we can write to: better said now than after tokenizing."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache_dir):
            pass
    except OSError as exc:
        raise UserError(f"data.cache_dir {str(cache_dir)!r}: cannot write the token cache there "
                        f"({exc.strerror or exc}); choose another folder") from None


def encode_texts(texts: list[str], tokenizer, max_seq_len: int, cache_dir: Path | None,
                 write_cache: bool = True) -> list[np.ndarray]:
    """Token ids of every text (with [CLS]/[SEP], truncated to max_seq_len), tokenized in batches by the fast
    tokenizer, after NFC normalisation (tokens.py). Cached under a key of the texts, the tokenizer and
    max_seq_len, so a second run reads them back."""
    texts = nfc(texts)
    cache_file = None
    if cache_dir is not None:
        key = hashlib.sha256()
        key.update(tokenizer_fingerprint(tokenizer).encode())
        key.update(str(max_seq_len).encode())
        for text in texts:
            key.update(text.encode("utf-8", "surrogatepass") + b"\0")
        cache_file = cache_dir / f"tokens-{key.hexdigest()[:24]}.npz"
        cached = _load_cache(cache_file, len(texts))
        if cached is not None:
            return cached
    pieces = []
    chunk = 8192
    for start in tqdm(range(0, len(texts), chunk), desc="tokenizing", unit="chunk", leave=False,
                      disable=len(texts) <= chunk):
        encoded = tokenize(tokenizer, texts[start: start + chunk], max_seq_len)
        pieces.extend(np.asarray(ids, dtype=np.int32) for ids in encoded)
    if cache_file is not None and write_cache:
        _save_cache(cache_file, pieces)
    return pieces


def tokenize(tokenizer, texts: list[str], max_seq_len: int) -> list[list[int]]:
    """Token ids of `texts` (a tokenizer that fails is a user error: tokens.py)."""
    with tokenizer_errors():
        return tokenizer(texts, truncation=True, max_length=max_seq_len, return_attention_mask=False,
                         return_token_type_ids=False)["input_ids"]


def tokenizer_fingerprint(tokenizer) -> str:
    """A digest of everything that changes how the tokenizer splits text (vocabulary, normaliser, added tokens)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    description = backend.to_str() if backend is not None else f"{tokenizer.name_or_path}:{len(tokenizer)}"
    return hashlib.sha256(description.encode()).hexdigest()


def _load_cache(path: Path, expected_rows: int) -> list[np.ndarray] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            flat, offsets = stored["flat"], stored["offsets"]
    except Exception:  # a damaged file can fail in many ways (zip, header, a pickled array): all mean "rebuild it"
        print(f"warning: tokenized cache {path} is unreadable; tokenizing again", flush=True)
        return None
    if len(offsets) != expected_rows + 1 or offsets[-1] != len(flat):
        print(f"warning: tokenized cache {path} does not match the data; tokenizing again", flush=True)
        return None
    return [flat[offsets[i]: offsets[i + 1]] for i in range(expected_rows)]


def _save_cache(path: Path, pieces: list[np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in pieces], out=offsets[1:])
    flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    stored = io.BytesIO()
    np.savez(stored, flat=flat, offsets=offsets)
    try:
        atomic_write(path, stored.getvalue())  # a reader never sees a half-written cache
    except OSError as exc:  # a full disk: the run goes on, it only tokenizes again next time
        print(f"warning: cannot write the token cache {path} ({exc.strerror or exc}); going on without it", flush=True)
