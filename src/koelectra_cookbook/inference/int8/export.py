"""Building an int8 model, the first time `predict.py --quantize int8` meets a model: the float classifier is
exported to ONNX with torch.onnx (a sentence-pair model with token_type_ids as a third input; a regression model's
one output as it is), checked against PyTorch, given ONNX Runtime's transformer fusions, and its weights quantised
to int8 with ONNX Runtime's dynamic quantisation (activations are quantised batch by batch as they come, so no
calibration data is needed). cache.py caches the result; runtime.py predicts with it.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import torch

from koelectra_cookbook.inference.int8.format import EXPORT_SETTINGS, INPUTS, input_names


def write_int8_model(model: torch.nn.Module, onnx_file: Path, sentence_pair: bool = False,
                     metadata: dict[str, str] | None = None) -> None:
    """The int8 ONNX model of `model` in `onnx_file` (its scratch files beside it are removed), taking
    token_type_ids too for a `sentence_pair` model, with `metadata` in the file's metadata properties. The float
    export is checked against PyTorch before it is quantised, so an export that went wrong is a bug report, not
    quietly wrong predictions."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    inputs = input_names(sentence_pair)
    float_file = onnx_file.with_name("model.float.onnx")
    export_onnx(model, float_file, inputs)
    check_export(model, float_file, inputs)
    fused_file = fuse_transformer_operators(model, float_file, inputs)
    with quiet_logging():  # quantize_dynamic advises a pre-processing step that changed nothing here
        quantize_dynamic(fused_file, onnx_file, weight_type=QuantType.QInt8)
    if metadata:
        quantized = onnx.load(str(onnx_file))
        onnx.helper.set_model_props(quantized, metadata)
        onnx.save(quantized, str(onnx_file))
    for scratch in onnx_file.parent.glob("model.float*.onnx"):
        scratch.unlink()


def export_onnx(model: torch.nn.Module, path: Path, inputs: list[str] = INPUTS) -> None:
    """The classifier as an ONNX graph taking `inputs` (input_ids, attention_mask[, token_type_ids]) of any batch
    size and length."""
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=model.config.max_position_embeddings)
    example = tuple(torch.ones(2, 16, dtype=torch.long) for _ in inputs)
    if "token_type_ids" in inputs:  # both segments in the example, so no export takes the type ids for a constant
        example[inputs.index("token_type_ids")][:, 8:] = 1
    # The exporter's notes (axis names, deprecations, a missing torchvision) are not the user's.
    with warnings.catch_warnings(), quiet_logging():
        warnings.simplefilter("ignore")
        torch.onnx.export(LogitsOnly(model).eval(), example, str(path), dynamo=True, verbose=False,
                          opset_version=EXPORT_SETTINGS["opset"], input_names=inputs, output_names=["logits"],
                          external_data=False, dynamic_shapes=tuple({0: batch, 1: length} for _ in inputs))


def fuse_transformer_operators(model: torch.nn.Module, float_file: Path, inputs: list[str] = INPUTS) -> Path:
    """The float graph with ONNX Runtime's transformer fusions (the bias and residual additions joined to the
    layer norms, the bias to the GELU) made before quantising: the quantised model then runs a little faster than
    when ONNX Runtime fuses what is left at load time (docs/benchmarks.md). Encoders whose graph the fusions do
    not fit are left as exported: the fused graph must still give PyTorch's logits."""
    from onnxruntime.transformers.optimizer import optimize_model

    fused_file = float_file.with_suffix(".fused.onnx")
    with quiet_logging():
        fused = optimize_model(str(float_file), model_type="bert", num_heads=model.config.num_attention_heads,
                               hidden_size=model.config.hidden_size, opt_level=0)
    fused.save_model_to_file(str(fused_file))
    try:
        check_export(model, fused_file, inputs)
    except RuntimeError:
        return float_file
    return fused_file


@contextlib.contextmanager
def quiet_logging():
    """ONNX Runtime's tools log advice through the root logger; the user has nothing to do about it."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


class LogitsOnly(torch.nn.Module):
    """The classifier with positional inputs and the logits as its only output, the shape an export takes (a
    regression model's logits are its one score)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits


@torch.inference_mode()
def check_export(model: torch.nn.Module, path: Path, inputs: list[str] = INPUTS) -> None:
    """The exported float graph must give PyTorch's logits on batches of other shapes than the example's, with
    padding (and for pairs, second segments of other lengths), so the dynamic batch and length really are
    dynamic and the type ids are read."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(0)
    for rows, length in [(1, 5), (3, 40)]:
        input_ids = torch.randint(5, model.config.vocab_size, (rows, length), generator=generator)
        attention_mask = torch.ones_like(input_ids)
        attention_mask[-1, length // 2:] = 0
        feed = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in inputs:
            firsts = torch.randint(2, length, (rows, 1), generator=generator)
            feed["token_type_ids"] = ((torch.arange(length)[None, :] >= firsts) & (attention_mask == 1)).long()
        expected = model(**feed).logits.numpy()
        got = session.run(None, {name: feed[name].numpy() for name in inputs})[0]
        if got.shape != expected.shape or not abs(got - expected).max() <= 1e-3 * max(1.0, abs(expected).max()):
            raise RuntimeError(f"the ONNX export of the model does not reproduce its logits on a ({rows}, {length})"
                               f" batch; please report this with your torch and onnxruntime versions")
