"""Build a small, randomly initialised ELECTRA checkpoint on disk, for the offline demo, tests and benchmarks.

It is saved with `save_pretrained` and loaded back through the same `from_pretrained` path a real KoELECTRA
checkpoint takes, so everything downstream is exercised for real. Usage:

    python -m koelectra_cookbook.classifier.tiny --out models/tiny --vocab ../shared/vocab/koelectra-v1-vocab.txt
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch
from transformers import BertTokenizer, ElectraConfig, ElectraForPreTraining

from koelectra_cookbook.files.atomic import atomic_folder

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_vocab(text_files: list[Path], vocab_size: int = 3000) -> list[str]:
    """A cased WordPiece vocabulary learnt from text files (KoELECTRA's vocabulary is cased too)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    tokenizer.train([str(f) for f in text_files], trainer)
    vocab = tokenizer.get_vocab()
    return sorted(vocab, key=vocab.get)


def sample_files() -> list[Path]:
    """The bundled sample files, whose text a demo vocabulary is learnt from. The sentence-pair and long-text
    samples are left out: their sentences are those of the nsmc and ynat samples (make_pairs.py, make_long.py),
    and counting them again would change the vocabulary every other demo learns with."""
    from koelectra_cookbook.paths import SAMPLES_DIR

    derived = {"korsts", "kornli", "klue-sts", "klue-nli", "petitions", "corpus"}
    return sorted(p for p in SAMPLES_DIR.rglob("*") if p.is_file() and p.suffix != ".py"
                  and not derived & set(p.relative_to(SAMPLES_DIR).parts))


def build_tiny_electra(out_dir: Path, vocab: list[str] | Path, hidden_size: int = 64, num_layers: int = 2,
                       num_heads: int = 2, seed: int = 0, embedding_size: int | None = None,
                       intermediate_size: int | None = None) -> Path:
    """Write a tokenizer and a random ELECTRA discriminator of the given shape to `out_dir` (the embedding size
    is the hidden size and the feed-forward size 4x it unless given: KoELECTRA-small has 128 and 1024 at 256)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(vocab, Path):
        vocab_file = vocab
    else:
        vocab_file = Path(tempfile.mkdtemp()) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(vocab=str(vocab_file), do_lower_case=False, strip_accents=False,
                              tokenize_chinese_chars=True)
    tokenizer.model_max_length = 512
    config = ElectraConfig(
        vocab_size=len(tokenizer), embedding_size=embedding_size or hidden_size, hidden_size=hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads,
        intermediate_size=intermediate_size or 4 * hidden_size,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    ElectraForPreTraining(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def build_demo_model() -> Path:
    """The --demo checkpoint: a vocabulary learnt from data/samples and a 2-layer, hidden-64 ELECTRA.
    Built once into data/cache/ and reused."""
    from koelectra_cookbook.paths import PROJECT_ROOT

    target = PROJECT_ROOT / "data" / "cache" / "demo-electra"
    if (target / "config.json").is_file():
        return target
    # Built beside its place and renamed whole; if another process finished first, its model is kept.
    with atomic_folder(target, replace=False, shared=True) as building:
        build_tiny_electra(building, train_vocab(sample_files()))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="directory to write the checkpoint to")
    parser.add_argument("--vocab", type=Path, help="a WordPiece vocab.txt (default: learn one from data/samples)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    vocab = args.vocab or train_vocab(sample_files())
    print(build_tiny_electra(args.out, vocab, args.hidden, args.layers, args.heads, args.seed))


if __name__ == "__main__":
    main()
