"""What every way of tokenizing shares (encode_texts in training and prediction, the int8 path's cached tokenizer):
texts NFC-normalised first, and a tokenizer that fails turned into one user error."""

from __future__ import annotations

import contextlib
import unicodedata

from koelectra_cookbook.errors import UserError


def nfc(texts: list[str]) -> list[str]:
    """Hangul typed or stored in decomposed form (NFD, as macOS file names and some web forms give it) would
    otherwise tokenize to [UNK], in training and prediction alike."""
    return [text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text) for text in texts]


@contextlib.contextmanager
def tokenizer_errors(what: str = "the model's tokenizer failed on the data"):
    """A tokenizer from a model folder may be crafted (a pattern that never finishes matching): the Rust
    tokenizer then panics, which is not an Exception; that and any other failure become a user error."""
    try:
        yield
    except Exception as exc:
        raise UserError(f"{what} ({' '.join(str(exc).split())[:200]})") from None
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise UserError(f"{what} ({' '.join(str(exc).split())[:200]}); its tokenizer.json is damaged or crafted") \
            from None
