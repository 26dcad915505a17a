"""Whether a model can be loaded without a long wait, asked before anything heavy loads: a local folder, a Hub
model in the local cache, or one the Hub answers for within PROBE_TIMEOUT_S. Without this, an unreachable Hub
costs close to a minute of the libraries' retries before their message, which names no way forward."""

from __future__ import annotations

import os
from pathlib import Path

from koelectra_cookbook.classifier.folder_checks import check_local_path

# Long enough for a slow link to answer one small request, short enough that a dead one is said at once.
PROBE_TIMEOUT_S = 10
OFFLINE_FIXES = (
    "  to train without network: set model.name_or_path to a local checkpoint folder (config.json, "
    "model.safetensors, tokenizer files); a model downloaded once is reused offline with HF_HUB_OFFLINE=1\n"
    "  to try everything offline first: add --demo (bundled samples and a tiny random ELECTRA)\n"
    "  a random model of any size to experiment with: python -m koelectra_cookbook.classifier.tiny "
    "--out models/tiny --vocab vocab.txt")


def model_problem(name_or_path: str) -> str | None:
    """None when the model can be loaded now (the loaders then check its files); else what stands in the way,
    with the ways around it. Prints a line when the model is about to be downloaded."""
    check_local_path(name_or_path)
    if Path(name_or_path).expanduser().is_dir():
        return None
    from huggingface_hub import constants, model_info, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name_or_path, "config.json"), str):
        return None
    if constants.HF_HUB_OFFLINE:
        return (f"model {name_or_path!r} is not in the local cache ({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE "
                f"is set, so it cannot be downloaded\n{OFFLINE_FIXES}")
    try:
        model_info(name_or_path, timeout=PROBE_TIMEOUT_S)
    except Exception as exc:  # no network, a proxy, DNS, the Hub's answers (not found, gated): each is one message
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403, 404):
            return (f"model {name_or_path!r} is not on the Hub, or it is private or gated ({reason}); check the "
                    f"name, or log in (hf auth login) if it is yours")
        return (f"model {name_or_path!r} is not in the local cache and the Hub did not answer within "
                f"{PROBE_TIMEOUT_S} s ({reason})\n{OFFLINE_FIXES}")
    print(f"downloading model {name_or_path} from the Hub (once: later runs read it from "
          f"{os.environ.get('HF_HOME') or constants.HF_HUB_CACHE})", flush=True)
    return None
