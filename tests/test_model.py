"""The model loader's GPU-only attention switch (model.avoid_per_shape_attention_plans)."""

from __future__ import annotations

import pytest
import torch

from koelectra_cookbook.classifier.loading import load_model


@pytest.fixture
def cudnn_attention_flag():
    """Leave torch's process-wide cuDNN-attention flag as the test found it."""
    before = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(True)
    yield
    torch.backends.cuda.enable_cudnn_sdp(before)


def test_loading_a_model_on_a_gpu_machine_switches_cudnn_attention_off(tiny_model_dir, monkeypatch,
                                                                       cudnn_attention_flag):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    load_model(str(tiny_model_dir), ["negative", "positive"])
    assert not torch.backends.cuda.cudnn_sdp_enabled()


def test_loading_a_model_without_a_gpu_leaves_the_attention_backends_alone(tiny_model_dir, monkeypatch,
                                                                            cudnn_attention_flag):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    load_model(str(tiny_model_dir), ["negative", "positive"])
    assert torch.backends.cuda.cudnn_sdp_enabled()
