"""The layer a classifier's logits come out of, and a temperature folded into it.

Dividing the logits by a temperature T is the same as dividing the weights and the bias of the last linear layer
by T. Done in the weights, the calibrated probabilities are what the saved model gives to every reader of its
folder: predict.py, its int8 copy, the page, the server, and `transformers.pipeline` alone; nobody has to know
about T to apply it, and nobody can apply it twice.
"""

from __future__ import annotations

import numpy as np
import torch


def output_layer(model: torch.nn.Module, num_labels: int) -> tuple[str, torch.nn.Linear] | None:
    """The last linear layer with one output per label (ELECTRA's and RoBERTa's `classifier.out_proj`, BERT's
    `classifier`), or None. Whether the logits really are its outputs is for the caller to check: a head may do
    more after it."""
    found = None
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module.out_features == num_labels:
            found = (name, module)
    return found


class FoldedTemperature:
    """A temperature folded into `layer`'s weights, undone exactly (from a copy) when the check fails."""

    def __init__(self, layer: torch.nn.Linear, temperature: np.ndarray):
        self.layer = layer
        self.original = (layer.weight.detach().clone(), None if layer.bias is None else layer.bias.detach().clone())
        scale = torch.as_tensor(1.0 / np.asarray(temperature, dtype=np.float64), dtype=layer.weight.dtype,
                                device=layer.weight.device).reshape(-1)
        with torch.no_grad():  # one T for every output, or one per output (multi-label)
            layer.weight.mul_(scale[:, None])
            if layer.bias is not None:
                layer.bias.mul_(scale)

    def undo(self) -> None:
        with torch.no_grad():
            self.layer.weight.copy_(self.original[0])
            if self.layer.bias is not None:
                self.layer.bias.copy_(self.original[1])
