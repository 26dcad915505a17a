"""Tokenization, once: every text NFC-normalised (tokens.py) and tokenized in batches by the fast tokenizer,
then cached on disk under a key of the texts and the tokenizer, so a second run reads the ids back.
A cache file is numpy arrays (never pickled objects); a damaged one is rebuilt, never trusted.

One text a row is cached whole (`encode_documents`: no special tokens, nothing cut), so one cache serves every
max_seq_len and data.long_text setting; long_text.py makes the model's rows from it. Sentence pairs are cached
as the tokenizer encodes them (`encode_rows`), keyed by max_seq_len too."""

from __future__ import annotations

import hashlib
import io
import json
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


# A text is tokenized in pieces of at most this many characters, cut at a space, and texts in chunks of at most
# CHUNK_CHARS: the tokenizer's working memory stays bounded however long a line is (a 50 MB line included).
PIECE_CHARS = 10_000
CHUNK_CHARS = 2_000_000


def encode_documents(texts: list[str], tokenizer, cache_dir: Path | None, write_cache: bool = True,
                     pieces: int = PIECE_CHARS) -> list[np.ndarray]:
    """The token ids of every text, whole and without special tokens, after NFC normalisation; cached under a key
    of the texts and the tokenizer."""
    texts = nfc(texts)
    cache_file = None
    if cache_dir is not None:
        cache_file = cache_dir / f"tokens-{cache_key(['documents'], tokenizer, [texts])}.npz"
        cached = _load_cache(cache_file, len(texts), False)
        if cached is not None:
            return cached[0]
    parts, owners = in_pieces(texts, pieces)
    encoded: list[list[int]] = []
    chunks = list(_chunks(parts))
    for start, stop in tqdm(chunks, desc="tokenizing", unit="chunk", leave=False, disable=len(chunks) <= 1):
        with tokenizer_errors():
            encoded += tokenizer(parts[start:stop], add_special_tokens=False, return_attention_mask=False,
                                 return_token_type_ids=False, verbose=False)["input_ids"]
    documents = joined(encoded, owners, len(texts))
    if cache_file is not None and write_cache:
        _save_cache(cache_file, documents)
    return documents


def in_pieces(texts: list[str], size: int = PIECE_CHARS) -> tuple[list[str], list[int]]:
    """Every text cut into pieces of at most `size` characters (split_at_spaces), and the text of each piece."""
    parts, owners = [], []
    for index, text in enumerate(texts):
        pieces = split_at_spaces(text, size)
        parts.extend(pieces)
        owners.extend([index] * len(pieces))
    return parts, owners


def joined(encoded: list, owners: list[int], count: int) -> list[np.ndarray]:
    """The token ids of each of `count` texts from the ids of its pieces (`in_pieces`), in order."""
    owned: list[list[np.ndarray]] = [[] for _ in range(count)]
    for owner, ids in zip(owners, encoded):
        owned[owner].append(np.asarray(ids, dtype=np.int32))
    return [np.concatenate(found) if len(found) != 1 else found[0] for found in owned]


def split_at_spaces(text: str, size: int) -> list[str]:
    """`text` in pieces of at most `size` characters, each cut after a space where there is one (a WordPiece or
    SentencePiece tokenizer splits words at spaces anyway, so the pieces tokenize as the whole does)."""
    if len(text) <= size:
        return [text]
    pieces, start = [], 0
    while len(text) - start > size:
        cut = text.rfind(" ", start + size // 2, start + size)
        cut = start + size if cut < 0 else cut + 1
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def _chunks(parts: list[str], most: int = 8192):
    """(start, stop) of runs of `parts` holding at most `most` parts and CHUNK_CHARS characters (one part at least)."""
    start, chars = 0, 0
    for index, part in enumerate(parts):
        if index > start and (index - start >= most or chars + len(part) > CHUNK_CHARS):
            yield start, index
            start, chars = index, 0
        chars += len(part)
    if start < len(parts):
        yield start, len(parts)


def encode_texts(texts: list[str], tokenizer, max_seq_len: int, cache_dir: Path | None,
                 write_cache: bool = True) -> list[np.ndarray]:
    """Token ids of every text (with [CLS]/[SEP], truncated to max_seq_len): `encode_rows` without pairs."""
    return encode_rows(texts, None, tokenizer, max_seq_len, cache_dir, write_cache)[0]


def encode_rows(texts: list[str], pairs: list[str] | None, tokenizer, max_seq_len: int, cache_dir: Path | None,
                write_cache: bool = True) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Token ids of every row, and for sentence pairs the length of each row's first segment ([CLS] a [SEP]),
    from which the batches' token_type_ids are made. Pairs are encoded as the tokenizer means them,
    `[CLS] a [SEP] b [SEP]`, the longer text cut first to fit max_seq_len. Tokenized in batches by the fast
    tokenizer after NFC normalisation (tokens.py), and cached under a key of the texts, the tokenizer and
    max_seq_len, so a second run reads them back."""
    texts = nfc(texts)
    pairs = nfc(pairs) if pairs is not None else None
    cache_file = None
    if cache_dir is not None:
        columns = [texts] if pairs is None else [texts, pairs]
        cache_file = cache_dir / f"tokens-{cache_key(['rows', max_seq_len], tokenizer, columns)}.npz"
        cached = _load_cache(cache_file, len(texts), pairs is not None)
        if cached is not None:
            return cached
    pieces, first_lengths = [], []
    chunk = 8192
    for start in tqdm(range(0, len(texts), chunk), desc="tokenizing", unit="chunk", leave=False,
                      disable=len(texts) <= chunk):
        second = pairs[start: start + chunk] if pairs is not None else None
        ids, firsts = tokenize_rows(tokenizer, texts[start: start + chunk], second, max_seq_len)
        pieces.extend(np.asarray(row, dtype=np.int32) for row in ids)
        first_lengths.extend(firsts or [])
    firsts = np.asarray(first_lengths, dtype=np.int32) if pairs is not None else None
    if cache_file is not None and write_cache:
        _save_cache(cache_file, pieces, firsts)
    return pieces, firsts


def tokenize(tokenizer, texts: list[str], max_seq_len: int) -> list[list[int]]:
    """Token ids of `texts` (a tokenizer that fails is a user error: tokens.py)."""
    return tokenize_rows(tokenizer, texts, None, max_seq_len)[0]


def tokenize_rows(tokenizer, texts: list[str], pairs: list[str] | None,
                  max_seq_len: int) -> tuple[list[list[int]], list[int] | None]:
    """Token ids of `texts` (with `pairs` as second segments), and each pair's first-segment length: the
    count of its token_type_ids that are 0 (all of them for a tokenizer without segments)."""
    with tokenizer_errors():
        encoded = tokenizer(texts, pairs, truncation="longest_first" if pairs is not None else True,
                            max_length=max_seq_len, return_attention_mask=False,
                            return_token_type_ids=pairs is not None)
    if pairs is None:
        return encoded["input_ids"], None
    types = encoded.get("token_type_ids")
    if types is None:
        return encoded["input_ids"], [len(ids) for ids in encoded["input_ids"]]
    return encoded["input_ids"], [len(row) - sum(row) for row in types]


def cache_key(settings: list, tokenizer, columns: list[list[str]]) -> str:
    """The name of a cache file: a hash of the settings, the tokenizer and every text of every column, each part
    preceded by its length, so no two different datasets give the same bytes to hash (texts may hold any
    character, NUL included: joining them with a separator would let ["a\0b", "c"] and ["a", "b\0c"] meet)."""
    key = hashlib.sha256(json.dumps([settings, tokenizer_fingerprint(tokenizer), len(columns)]).encode())
    for column in columns:
        key.update(len(column).to_bytes(8, "little"))
        for text in column:
            data = text.encode("utf-8", "surrogatepass")
            key.update(len(data).to_bytes(8, "little"))
            key.update(data)
    return key.hexdigest()[:24]


def tokenizer_fingerprint(tokenizer) -> str:
    """A digest of everything that changes the ids the tokenizer gives (vocabulary, normaliser, added tokens) and
    the side it cuts a text from (`truncation_side`, from tokenizer_config.json: cached rows are cut already)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        settings = f"{tokenizer.name_or_path}:{len(tokenizer)}"
    else:  # without the truncation and padding state, which the last call left there (pairs set longest_first)
        settings = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
    description = json.dumps([settings, str(getattr(tokenizer, "truncation_side", "right"))], sort_keys=True)
    return hashlib.sha256(description.encode()).hexdigest()


def _load_cache(path: Path, expected_rows: int,
                pairs: bool) -> tuple[list[np.ndarray], np.ndarray | None] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            flat, offsets = stored["flat"], stored["offsets"]
            firsts = stored["first_lengths"] if pairs else None
    except Exception:  # a damaged file can fail in many ways (zip, header, a pickled array): all mean "rebuild it"
        print(f"warning: tokenized cache {path} is unreadable; tokenizing again", flush=True)
        return None
    if len(offsets) != expected_rows + 1 or offsets[-1] != len(flat) or (
            pairs and (len(firsts) != expected_rows or (firsts > np.diff(offsets)).any() or (firsts < 0).any())):
        print(f"warning: tokenized cache {path} does not match the data; tokenizing again", flush=True)
        return None
    return [flat[offsets[i]: offsets[i + 1]] for i in range(expected_rows)], firsts


def _save_cache(path: Path, pieces: list[np.ndarray], first_lengths: np.ndarray | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    offsets = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum([len(p) for p in pieces], out=offsets[1:])
    flat = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    stored = io.BytesIO()
    extra = {"first_lengths": first_lengths} if first_lengths is not None else {}
    np.savez(stored, flat=flat, offsets=offsets, **extra)
    try:
        atomic_write(path, stored.getvalue())  # a reader never sees a half-written cache
    except OSError as exc:  # a full disk: the run goes on, it only tokenizes again next time
        print(f"warning: cannot write the token cache {path} ({exc.strerror or exc}); going on without it", flush=True)
