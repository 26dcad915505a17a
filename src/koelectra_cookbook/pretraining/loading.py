"""Loading the checkpoints pretraining starts from: whole encoders, safe files, one error line otherwise."""

from __future__ import annotations

import transformers
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from koelectra_cookbook.classifier.folder_checks import check_local_path, check_safe_weights
from koelectra_cookbook.errors import UserError


def load_checkpoint(model_class, name_or_path: str, key: str, note=None):
    """A checkpoint of `model_class` (safetensors only, no remote code), or one error line. Its encoder must be
    whole; a head it lacks (an ELECTRA discriminator has no masked-LM head) starts new with a `note`, or, where
    `note` is None (a generator given to continue), is an error."""
    check_local_path(name_or_path)
    check_safe_weights(name_or_path)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # its loading bars and notes are not the user's
    try:
        model, loading = model_class.from_pretrained(name_or_path, use_safetensors=True, trust_remote_code=False,
                                                     output_loading_info=True)
    except Exception as exc:  # files from elsewhere can fail in any way
        kind = getattr(model_class, "__name__", "model").replace("AutoModelFor", "a ") + " model"
        raise UserError(f"{key} {name_or_path!r}: cannot load it as {kind} ({' '.join(str(exc).split())[:200]})"
                        ) from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    if model_class in (ElectraForPreTraining, ElectraForMaskedLM) and model.config.model_type != "electra":
        raise UserError(f"{key} {name_or_path!r} is a {model.config.model_type} checkpoint; replaced-token detection "
                        f"needs an ELECTRA one (pretrain.objective: masked_lm takes any encoder)")
    missing = loading.get("missing_keys", [])
    body = [name for name in missing if name.startswith(model.base_model_prefix + ".")]
    head = sorted(name for name in missing if name not in body)
    if body or (head and note is None):
        what = "a whole encoder" if body else f"saved as {type(model).__name__}"
        raise UserError(f"{key} {name_or_path!r}: its weights lack {(body or head)[0]}; the checkpoint is damaged "
                        f"or not {what}")
    if head:
        parts = ", ".join(sorted({name.split(".")[0] for name in head}))
        note(f"note: {key}'s checkpoint has no weights for {parts} (the objective's head); they start new")
    return model
