"""Text for continued pretraining (pretraining/corpus.py): documents read a piece at a time, blocks packed as
ELECTRA packs them, cached by content, and bad text one error line."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.pretraining import corpus
from koelectra_cookbook.pretraining.corpus import corpus_blocks, read_documents


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_lines_and_paragraphs_are_documents_and_blank_lines_are_none(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_bytes("\ufeff첫 문장\r\n둘째 문장\n\n\n셋째 문장\n넷째".encode())
    assert list(read_documents(path)) == ["첫 문장", None, "둘째 문장", None, "셋째 문장", None, "넷째", None]
    assert list(read_documents(path, documents="paragraphs")) == ["첫 문장", "둘째 문장", None, "셋째 문장", "넷째",
                                                                  None]


def test_a_huge_line_is_read_in_pieces_of_bounded_size(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "READ_BYTES", 1000)  # chunks far smaller than the line
    words = [f"단어{i}" for i in range(30_000)]
    path = tmp_path / "one-line.txt"
    path.write_text(" ".join(words) + "\n다음 줄\n", encoding="utf-8")
    texts = list(read_documents(path))
    pieces = texts[: texts.index(None)]
    assert len(pieces) > 10 and max(len(piece) for piece in pieces) <= corpus.LONGEST_PIECE
    assert " ".join(pieces).split() == words  # nothing lost, no word cut in two
    assert texts[texts.index(None) + 1:] == ["다음 줄", None]


def test_blocks_are_cls_tokens_sep_with_documents_joined_by_sep(tmp_path, tokenizer):
    path = tmp_path / "corpus.txt"
    lines = [f"영화 {i}번째 리뷰는 정말 재밌었다" for i in range(40)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    blocks = corpus_blocks([path], tokenizer, 16, tmp_path / "cache")
    expected = []
    for line in lines:
        expected += tokenizer(line, add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id]
    assert blocks.shape == (len(expected) // 14, 16) and blocks.dtype == np.int32
    assert (blocks[:, 0] == tokenizer.cls_token_id).all() and (blocks[:, -1] == tokenizer.sep_token_id).all()
    assert blocks[:, 1:-1].reshape(-1).tolist() == expected[: len(blocks) * 14]
    assert isinstance(blocks, np.memmap)  # read from disk, not held in memory


def test_the_cache_is_keyed_by_content_and_rebuilt_when_damaged(tmp_path, tokenizer, capsys):
    path = tmp_path / "corpus.txt"
    path.write_text("좋은 영화였다 정말로 " * 200, encoding="utf-8")
    first = np.array(corpus_blocks([path], tokenizer, 16, tmp_path / "cache"))
    [cached] = (tmp_path / "cache").glob("blocks-*.npy")
    cached.write_bytes(b"not numpy")
    assert np.array_equal(corpus_blocks([path], tokenizer, 16, tmp_path / "cache"), first)
    assert "unreadable; tokenizing again" in capsys.readouterr().out
    path.write_text("나쁜 영화였다 정말로 " * 200, encoding="utf-8")
    assert not np.array_equal(corpus_blocks([path], tokenizer, 16, tmp_path / "cache"), first)
    assert len(list((tmp_path / "cache").glob("blocks-*.npy"))) == 2
    assert not list((tmp_path / "cache").glob(".*partial*"))


@pytest.mark.parametrize("content, message", [
    (b"", "no text"),
    (b"   \n\t\n\n", "no text"),
    (b"\x00\x01\xff\xfe\x89PNG", "bytes that are not valid utf-8"),
    ("짧다\n".encode(), "not enough text for one block"),
])
def test_a_corpus_without_usable_text_is_one_error(tmp_path, tokenizer, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        corpus_blocks([path], tokenizer, 64, tmp_path / "cache")
