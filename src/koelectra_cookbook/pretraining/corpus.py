"""Text for continued pretraining: plain-text files read a piece at a time, tokenized in batches, packed into
blocks of `max_seq_len` tokens and cached on disk, so a corpus larger than memory never sits in it whole.

A text file holds one text a line, or (`documents="paragraphs"`) documents separated by a blank line. It is read
in chunks of bytes and decoded incrementally; a line longer than LONGEST_PIECE characters is cut at a space into
pieces of the same document, so memory stays bounded whatever the file holds (a 50 MB line included). Texts are
NFC-normalised as everywhere (data/tokens.py) and tokenized CHUNK_TEXTS at a time; their ids go to a file on disk as
they come. Blocks are `[CLS] tokens [SEP]`, consecutive tokens of the corpus, a document's end marked by a [SEP]
inside the block (as ELECTRA packs its corpus); the last, short block is dropped. The blocks are a numpy array on
disk (int32), opened memory-mapped: 4 bytes a token, about 1.2 GB for a GB of Korean text at KoELECTRA's
vocabulary (some 3 characters a token), while RAM holds a chunk of text and its ids.

The cache file is named by the SHA-256 of the files' bytes, the tokenizer's fingerprint and the packing
settings; one that does not check out is rebuilt.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from koelectra_cookbook.data.token_cache import split_at_spaces, tokenizer_fingerprint
from koelectra_cookbook.data.tokens import nfc, tokenizer_errors
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.checksums import file_sha256

READ_BYTES = 1 << 20  # a file is read a MiB at a time
LONGEST_PIECE = 10_000  # characters: a longer line is cut at a space into pieces (as the token cache does)
CHUNK_TEXTS = 1_000  # texts tokenized in one call
DOCUMENT_MODES = ("lines", "paragraphs")


def read_documents(path: Path, encoding: str = "utf-8", documents: str = "lines") -> Iterator[str | None]:
    """The texts of a plain-text file in order, each at most LONGEST_PIECE characters; None where a document ends
    (after each line, or after each blank-line-separated paragraph). Blank lines are no texts."""
    if documents not in DOCUMENT_MODES:
        raise UserError(f"documents must be {' or '.join(DOCUMENT_MODES)}, got {documents!r}")
    if not path.is_file():
        raise UserError(f"{path}: {'not a regular file' if path.exists() else 'file not found'}")
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    pending, lines_read, in_document = "", 0, False
    with open(path, "rb") as handle:
        while True:
            raw = handle.read(READ_BYTES)
            final = not raw
            try:
                pending += decoder.decode(raw, final=final)
            except UnicodeDecodeError as problem:
                line = lines_read + pending.count("\n") + raw[: max(problem.start, 0)].count(b"\n") + 1
                raise UserError(f"{path}:{line}: bytes that are not valid {encoding} (a binary file? or set "
                                f"data.encoding)") from None
            lines = pending.split("\n")
            pending = "" if final else lines.pop()  # the line still being read
            if len(pending) > LONGEST_PIECE:  # a line longer than a piece: give out all but its tail
                *pieces, pending = split_at_spaces(pending, LONGEST_PIECE)
                yield from (piece for piece in pieces if piece.strip())
                in_document = True
            for line in lines:
                lines_read += 1
                text = line.removesuffix("\r").removeprefix("\ufeff")
                if text.strip():
                    yield from split_at_spaces(text, LONGEST_PIECE)
                    in_document = True
                if in_document and (documents == "lines" or not text.strip()):  # a line, or a paragraph, ends
                    yield None
                    in_document = False
            if final:
                break
    if in_document:  # the last paragraph, without a blank line after it
        yield None


def corpus_blocks(paths: list[Path], tokenizer, max_seq_len: int, cache_dir: Path, encoding: str = "utf-8",
                  documents: str = "lines") -> np.ndarray:
    """The corpus of `paths` as blocks of `max_seq_len` token ids, shape (blocks, max_seq_len), memory-mapped from
    the cache (built first when it is not there)."""
    key = hashlib.sha256(json.dumps({"files": [file_sha256(path) for path in paths], "encoding": encoding,
                                     "documents": documents, "max_seq_len": max_seq_len,
                                     "tokenizer": tokenizer_fingerprint(tokenizer)}).encode()).hexdigest()[:24]
    cache_file = Path(cache_dir) / f"blocks-{key}.npy"
    blocks = _load_blocks(cache_file, max_seq_len)
    if blocks is None:
        _build_blocks(paths, tokenizer, max_seq_len, cache_file, encoding, documents)
        blocks = _load_blocks(cache_file, max_seq_len)
    if blocks is None or not len(blocks):
        raise UserError(f"{', '.join(str(p) for p in paths)}: not enough text for one block of {max_seq_len} tokens")
    return blocks


def _build_blocks(paths: list[Path], tokenizer, max_seq_len: int, cache_file: Path, encoding: str,
                  documents: str) -> None:
    """Tokenize the files a chunk of texts at a time into a scratch file of ids, then lay them out in blocks."""
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise UserError("the tokenizer has no [CLS] or [SEP] token; pretraining packs blocks with them")
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=cache_file.parent) as ids_file:
        count = 0
        progress = tqdm(desc="tokenizing", unit="tok", unit_scale=True, leave=False, disable=None)  # a terminal only
        for chunk in _chunks((text for path in paths for text in read_documents(path, encoding, documents))):
            texts = [text for text in chunk if text is not None]
            with tokenizer_errors():
                encoded = iter(tokenizer(nfc(texts), add_special_tokens=False, return_attention_mask=False,
                                         return_token_type_ids=False, verbose=False)["input_ids"]) if texts else iter(())
            ids: list[int] = []
            for item in chunk:
                ids.extend([sep_id] if item is None else next(encoded))
            np.asarray(ids, dtype=np.int32).tofile(ids_file)
            count += len(ids)
            progress.update(len(ids))
        progress.close()
        if count == 0:
            raise UserError(f"{', '.join(str(p) for p in paths)}: no text (every line is empty)")
        ids_file.flush()
        room = max_seq_len - 2
        whole = count // room
        if whole == 0:
            return  # corpus_blocks says there is too little text
        stream = np.memmap(ids_file, dtype=np.int32, mode="r", shape=(count,))
        scratch = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.partial.npy")
        try:  # written to disk block by block: memory holds a slice, not the corpus
            blocks = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.int32, shape=(whole, max_seq_len))
            for start in range(0, whole, 65_536):
                stop = min(whole, start + 65_536)
                blocks[start:stop, 0], blocks[start:stop, -1] = cls_id, sep_id
                blocks[start:stop, 1:-1] = stream[start * room: stop * room].reshape(stop - start, room)
            blocks.flush()
            del blocks, stream
            os.replace(scratch, cache_file)
        finally:
            scratch.unlink(missing_ok=True)


def _chunks(items: Iterable, size: int = CHUNK_TEXTS) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _load_blocks(path: Path, max_seq_len: int) -> np.ndarray | None:
    """The cached blocks, memory-mapped; None (rebuilt) when missing or not blocks of this length."""
    if not path.is_file():
        return None
    try:
        blocks = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        print(f"warning: pretraining cache {path} is unreadable; tokenizing again", flush=True)
        return None
    if blocks.ndim != 2 or blocks.shape[1] != max_seq_len or blocks.dtype != np.int32:
        print(f"warning: pretraining cache {path} does not hold blocks of {max_seq_len}; tokenizing again",
              flush=True)
        return None
    return blocks


class BlockRows(Sequence):
    """Rows of the memory-mapped block cache, as a sequence of token-id arrays made one at a time when read. (A list
    of views would hold an object of about 500 bytes a block in memory: some 800 MiB per GB of text.)"""

    def __init__(self, blocks: np.ndarray, rows: np.ndarray):
        self.blocks, self.rows = blocks, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> np.ndarray:
        return np.asarray(self.blocks[self.rows[index]])
