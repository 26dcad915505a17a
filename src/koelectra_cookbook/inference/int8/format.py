"""What an int8 cache entry is made of: the names its files have, the inputs its model takes, and the export
settings that are part of its key. Shared by the cache, the runtime and the export, and importing nothing."""

INSTALL_HINT = 'pip install -e ".[int8]"'
# Everything that changes the files an entry holds: a change here (or another version of a library below)
# gives new cache keys, so entries built the old way are never read.
EXPORT_SETTINGS = {"format": "onnx", "opset": 18, "fusions": "onnxruntime.transformers bert, opt_level 0",
                   "quantization": "dynamic int8 weights (QInt8), per tensor", "layout": 2}
LIBRARIES = ["torch", "transformers", "tokenizers", "onnxruntime"]
ONNX_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
MANIFEST = "manifest.json"
INPUTS = ["input_ids", "attention_mask"]
