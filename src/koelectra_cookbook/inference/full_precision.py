"""Prediction in full precision with PyTorch (predict.py without --quantize, and the model the int8 path
exports): a saved classifier with its tokenizer and labels, on the device the process predicts on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification

from koelectra_cookbook.data.long_text import special_tokens
from koelectra_cookbook.data.token_cache import encode_documents, encode_rows
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.classifier.loading import avoid_per_shape_attention_plans, check_finite_weights, check_model_limits, load_tokenizer
from koelectra_cookbook.classifier.folder_checks import label_settings
from koelectra_cookbook.classifier.model_folder import ModelFolder


class FullPrecisionClassifier:
    """The classifier saved in `folder`, its tokenizer and label settings, as Predictor uses them."""

    def __init__(self, folder: ModelFolder, device: torch.device | str):
        model_dir = folder.path
        self.tokenizer = load_tokenizer(str(model_dir))
        self.max_seq_len = check_model_limits(str(model_dir), self.tokenizer, saved=folder)
        avoid_per_shape_attention_plans()
        self.model = load_classifier(model_dir).eval().to(device)  # "not a fine-tuned classifier" comes first
        self.label_names, self.thresholds = label_settings(model_dir, folder)
        self.device = device
        self.multi_label, self.regression = folder.multi_label, folder.regression
        self.sentence_pair = folder.sentence_pair
        # Padding is masked out, so any id does for a tokenizer that names no padding token.
        self.pad_token_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        # what the tokenizer puts around a text ([CLS] and [SEP]), for the rows long_text.py makes of a text
        self.specials = special_tokens(lambda text, add: self.tokenizer(text, add_special_tokens=add)["input_ids"])

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        return encode_rows(texts, None, self.tokenizer, self.max_seq_len, cache_dir=None)[0]

    def document_ids(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each text, whole and without special tokens (token_cache.encode_documents)."""
        return encode_documents(texts, self.tokenizer, cache_dir=None)

    def pair_token_ids(self, texts: list[str], pairs: list[str],
                       max_seq_len: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Token ids of each pair cut to `max_seq_len` tokens, and each pair's first-segment length
        (token_cache.py)."""
        return encode_rows(texts, pairs, self.tokenizer, max_seq_len, cache_dir=None)

    @torch.inference_mode()
    def logits_in_order(self, batches: Iterable[tuple[np.ndarray, ...]]) -> Iterator[np.ndarray]:
        """The logits of each (input_ids, attention_mask[, token_type_ids]) batch, in the order of `batches`."""
        for batch in batches:
            names = ("input_ids", "attention_mask", "token_type_ids")
            inputs = {name: torch.from_numpy(array).to(self.device) for name, array in zip(names, batch)}
            yield self.model(**inputs).logits.float().cpu().numpy()


def load_classifier(model_dir: Path):
    """The fine-tuned classifier saved in `model_dir`. A checkpoint whose classification head was never trained
    (a pretrained encoder) would predict noise, so it is refused."""
    try:
        model, loading = AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), use_safetensors=True, trust_remote_code=False, output_loading_info=True)
    except Exception as exc:  # files from elsewhere can fail in any way
        raise UserError(f"--model {model_dir}: cannot load it ({' '.join(str(exc).split())[:200]})") from None
    untrained = sorted(loading.get("missing_keys", [])) + sorted(k[0] if isinstance(k, tuple) else k
                                                                for k in loading.get("mismatched_keys", []))
    if untrained:
        raise UserError(f"--model {model_dir}: not a fine-tuned classifier ({untrained[0]} is not in its weights, so "
                        f"its classification head was never trained); give the model/ folder of a training run "
                        f"(RUN_DIR/model)")
    check_finite_weights(model, model_dir)
    return model
