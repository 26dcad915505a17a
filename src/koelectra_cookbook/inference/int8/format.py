"""What an int8 cache entry is made of: the names its files have, the inputs its model takes, and the export
settings that are part of its key. Shared by the cache, the runtime and the export, and importing nothing."""

from __future__ import annotations

INSTALL_HINT = 'pip install -e ".[int8]"'
# Everything that changes the files an entry holds: a change here (or another version of a library below)
# gives new cache keys, so entries built the old way are never read. Layout 3: the manifest names the model's kind
# (sentence pair, regression) and a pair model takes token_type_ids. Layout 4: the ONNX model's metadata names its
# cache key and tokenizer.
EXPORT_SETTINGS = {"format": "onnx", "opset": 18, "fusions": "onnxruntime.transformers bert, opt_level 0",
                   "quantization": "dynamic int8 weights (QInt8), per tensor", "layout": 4}
LIBRARIES = ["torch", "transformers", "tokenizers", "onnxruntime"]
ONNX_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST = "manifest.json"
INPUTS = ["input_ids", "attention_mask"]
PAIR_INPUTS = [*INPUTS, "token_type_ids"]  # a sentence-pair model also takes each token's segment


def input_names(sentence_pair: bool) -> list[str]:
    """The inputs of an entry's model, in the order of Predictor's batches: a pair model's include token_type_ids."""
    return list(PAIR_INPUTS if sentence_pair else INPUTS)
