"""What each worker process of `serve.py --workers N` imports: the application, built from the settings the
parent process left in the environment. The model loads in the background; /health is 503 until it is ready."""

from __future__ import annotations

import os

from koelectra_cookbook.serving.api import build_app
from koelectra_cookbook.serving.settings import ServerSettings


def app():
    settings = ServerSettings.from_environment()
    if settings.quantize is None:  # the workers share the cores instead of each taking them all
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // settings.workers))
    return build_app(settings)
