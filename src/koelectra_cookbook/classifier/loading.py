"""The classifier: any Hugging Face encoder checkpoint with a sequence-classification head (KoELECTRA by default)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
import transformers
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.classifier.folder_checks import check_local_path, check_safe_weights, check_token_types
from koelectra_cookbook.classifier.model_folder import ModelFolder


def load_tokenizer(name_or_path: str):
    """The checkpoint's fast tokenizer; an unreachable or unknown checkpoint is a user error."""
    check_local_path(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False)
    except Exception as exc:  # files from elsewhere can fail in any way (a tokenizer.json of another shape...)
        raise UserError(_cannot_load(name_or_path, exc)) from None
    except BaseException as exc:  # the Rust tokenizer panicking on a crafted file is not even an Exception
        if type(exc).__name__ != "PanicException":
            raise
        raise UserError(_cannot_load(name_or_path, exc)) from None


def check_model_limits(name_or_path: str, tokenizer, max_seq_len: int | None = None,
                       saved: ModelFolder | None = None, sentence_pair: bool = False) -> int:
    """Refuse a tokenizer that does not fit the model's embeddings (a folder without its tokenizer files loads a
    tokenizer of a handful of special tokens, and trains to chance), a max_seq_len beyond the model's
    position table, and sentence pairs for a model of one token type. Returns the longest input the model takes.
    `saved`: a saved model's folder, already read (prediction); otherwise the checkpoint's config is loaded (a
    Hub id, when training)."""
    if saved is not None:
        config = saved
    else:
        try:
            config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=False)
        except Exception as exc:  # files from elsewhere can fail in any way
            raise UserError(_cannot_load(name_or_path, exc)) from None
    rows = getattr(config, "vocab_size", None)
    if isinstance(rows, int) and not rows // 2 <= len(tokenizer) <= rows:
        raise UserError(f"model {name_or_path}: its tokenizer has {len(tokenizer)} tokens but the model's embeddings "
                        f"have {rows} rows; the tokenizer files (tokenizer.json or vocab.txt) are missing or belong "
                        f"to another model")
    largest = max(tokenizer.get_vocab().values(), default=0)
    if isinstance(rows, int) and largest >= rows:  # as many tokens as rows, but ids past the table: an index error
        raise UserError(f"model {name_or_path}: its tokenizer gives token ids up to {largest}, but the model's "
                        f"embeddings have {rows} rows; the tokenizer files belong to another model or are damaged")
    check_token_types(config, name_or_path, sentence_pair)
    positions = getattr(config, "max_position_embeddings", None) or 512
    declared = getattr(tokenizer, "model_max_length", None)
    longest = declared if isinstance(declared, int) and 0 < declared < positions else positions
    if max_seq_len is not None and max_seq_len > longest:
        raise UserError(f"config: model.max_seq_len {max_seq_len} is more than model {name_or_path} takes "
                        f"({longest} tokens); set it to {longest} or less")
    return longest


def tokenizer_bytes(tokenizer) -> int:
    """About how many bytes save_pretrained writes for the tokenizer (its tokenizer.json plus a vocabulary)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return 2 * len(backend.to_str().encode()) if backend is not None else 2 * 2**20


def load_model(name_or_path: str, label_names: list[str], attn_implementation: str = "sdpa",
               problem_type: str = "single_label_classification"):
    """Load the encoder with a fresh head of len(label_names) outputs.

    The label names go into the model config (id2label / label2id), so the saved model reports readable labels
    in `transformers.pipeline`. A checkpoint that already has a head of another size gets a new one.
    """
    check_local_path(name_or_path)
    check_safe_weights(name_or_path)
    avoid_per_shape_attention_plans()
    label_names = [str(name) for name in label_names]
    kwargs = dict(
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={name: i for i, name in enumerate(label_names)},
        problem_type=problem_type,
        ignore_mismatched_sizes=True,
        use_safetensors=True,
        trust_remote_code=False,
    )
    # The "newly initialised head" warning is expected when fine-tuning; keep the console for what matters.
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        try:
            model, loading = AutoModelForSequenceClassification.from_pretrained(
                name_or_path, attn_implementation=attn_implementation, output_loading_info=True, **kwargs)
        except ValueError as exc:
            if "attn_implementation" not in str(exc) and "SDPA" not in str(exc).upper():
                raise
            # Not every architecture has fused attention; fall back to the reference implementation.
            model, loading = AutoModelForSequenceClassification.from_pretrained(
                name_or_path, output_loading_info=True, **kwargs)
    except Exception as exc:  # files from elsewhere can fail in any way (a shard of another shape, ...)
        raise UserError(_cannot_load(name_or_path, exc)) from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    # A new head is expected; an encoder weight that is missing or of another shape would be silently
    # re-initialised (a config.json that does not fit its weights), and the run would train from noise.
    untrained = [key if isinstance(key, str) else key[0]
                 for key in [*loading.get("missing_keys", []), *loading.get("mismatched_keys", [])]]
    # BERT's pooler feeds only the classification head, and a masked-LM checkpoint (pretrain.py's) has none: new
    encoder = [key for key in untrained if key.startswith(f"{model.base_model_prefix}.") and ".pooler." not in key]
    if encoder:
        raise UserError(f"model {name_or_path}: its weights do not fit its config.json ({encoder[0]} is missing or "
                        f"of another shape); the checkpoint is damaged or its files belong to different models")
    check_finite_weights(model, name_or_path)
    return model


def check_finite_weights(model: torch.nn.Module, name_or_path: str | Path) -> None:
    """Weights of NaN or infinity (a damaged or diverged checkpoint) would train or predict nothing but NaN."""
    if not all(bool(torch.isfinite(parameter).all()) for parameter in model.parameters()):
        raise UserError(f"model {name_or_path}: its weights hold values that are not finite (NaN or infinity)")


def avoid_per_shape_attention_plans() -> None:
    """Keep PyTorch's fused attention off its cuDNN backend on a GPU.

    Our batches change length from one batch to the next (length-grouped training, length-sorted evaluation).
    On Hopper and newer GPUs, torch sends masked attention to cuDNN first, and cuDNN builds an execution plan
    for every (batch, length) shape it has not seen yet, which made our first steps and whole epochs much
    slower (docs/benchmarks.md has the H100 figures). The memory-efficient kernel needs no per-shape set-up.
    Nothing changes on a CPU.
    """
    if torch.cuda.is_available():
        torch.backends.cuda.enable_cudnn_sdp(False)


def _cannot_load(name_or_path: str, exc: Exception) -> str:
    reason = " ".join(str(exc).split())[:300]
    return (f"cannot load model {name_or_path!r} ({reason}); without network, set model.name_or_path to a local "
            f"directory holding the checkpoint (config.json, weights, tokenizer files)")


def add_tokens(tokenizer, tokens: list[str]):
    """Make each of `tokens` a single vocabulary entry. Returns (tokenizer, number of ids past the old vocabulary).

    KoELECTRA's vocabulary reserves `[unused*]` entries: a new token takes one of those ids first, so its
    embedding row already exists and the model keeps its shape; only when they run out are ids appended
    (and the caller must resize the embeddings). The tokenizer is rebuilt from its tokenizer.json with the
    changes, so saving it with the model keeps them.
    """
    import json
    import tempfile

    vocab = tokenizer.get_vocab()
    new_tokens = [t for t in dict.fromkeys(tokens) if t not in vocab]
    if not new_tokens:
        return tokenizer, 0
    unused = sorted((t for t in vocab if t.startswith("[unused") and t.endswith("]")), key=vocab.get)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        spec_file = Path(folder) / "tokenizer.json"
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
        model_vocab = spec["model"]["vocab"]
        for token, slot in zip(new_tokens, unused):
            model_vocab[token] = model_vocab.pop(slot)
            # An added token is matched whole before the text is split into words, so "ㅋㅋㅋ" or "<작품명>"
            # stays one piece.
            spec["added_tokens"].append({"id": model_vocab[token], "content": token, "single_word": False,
                                         "lstrip": False, "rstrip": False, "normalized": False, "special": False})
        spec_file.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        rebuilt = AutoTokenizer.from_pretrained(folder)
    appended = rebuilt.add_tokens(new_tokens[len(unused):])
    return rebuilt, appended


def freeze(model, embeddings: bool, lowest_layers: int) -> int:
    """Stop gradients to the embeddings and/or the `lowest_layers` lowest encoder layers. Returns how many
    parameter tensors were frozen."""
    frozen = 0
    for name, parameter in model.named_parameters():
        layer = layer_index(name)
        if (embeddings and ".embeddings." in f".{name}") or (layer is not None and layer < lowest_layers):
            parameter.requires_grad_(False)
            frozen += 1
    return frozen


def layer_index(parameter_name: str) -> int | None:
    """The encoder layer a parameter belongs to (`...encoder.layer.3.attention...` -> 3), or None."""
    match = re.search(r"\.(?:layer|layers)\.(\d+)\.", f".{parameter_name}")
    return int(match.group(1)) if match else None
