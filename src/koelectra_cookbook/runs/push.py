"""Upload a run's model folder to the Hugging Face Hub (a private repository unless told otherwise).

    python -m koelectra_cookbook.commands.push RUN_DIR REPO_ID [--public]
    python train_expert.py --task nsmc --push-to-hub REPO_ID      # the same, once the run is saved

The run is saved before anything is uploaded, so an upload that fails (no token, no network, no permission)
loses nothing: it is one `error:` line saying how to try again. The token comes from the usual places
(`HF_TOKEN`, or `hf auth login`). Only the files a model folder holds are uploaded, and never through a link:
a run folder from elsewhere could hold a link to one of your own files.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from koelectra_cookbook.errors import UserError, shown

# What save_pretrained writes for a model and its tokenizer, and the card.
UPLOADED_SUFFIXES = (".safetensors", ".json", ".txt", ".md")
MAX_CARD_BYTES = 1 << 20
USAGE_LINE = re.compile(r'(pipeline\("text-classification", model=)"[^"\n]*"')


def check_repo_id(repo_id: str) -> str:
    """`name` or `owner/name`, as the Hub accepts it (an argparse type: checked before a run starts, not after
    it ends)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise argparse.ArgumentTypeError(f"{shown(repo_id)} is not a Hub repository id (`name` or `owner/name`: "
                                         f"letters, digits, -, _, .)") from None
    return repo_id


def model_files(model_dir: Path) -> list[str]:
    """The names of the files to upload; anything that is not a plain file of a model folder is refused."""
    if not model_dir.is_dir() or model_dir.is_symlink():
        raise UserError(f"{model_dir}: no model folder to upload (a run has one once it has finished)")
    names = []
    for entry in sorted(os.scandir(model_dir), key=lambda e: e.name):
        kind = os.lstat(entry.path).st_mode
        if not stat.S_ISREG(kind) or not entry.name.endswith(UPLOADED_SUFFIXES) or entry.name.startswith("."):
            what = "a link" if stat.S_ISLNK(kind) else "a folder" if stat.S_ISDIR(kind) else "not a model file"
            raise UserError(f"{Path(entry.path)}: {what}; only a model folder's files are uploaded "
                            f"({', '.join(UPLOADED_SUFFIXES)}): move it out of the folder first")
        names.append(entry.name)
    if "config.json" not in names or not any(name.endswith(".safetensors") for name in names):
        raise UserError(f"{model_dir}: not a saved model (config.json and safetensors weights expected)")
    return names


def card_for_repo(card_path: Path, repo_id: str) -> str | None:
    """The model card with its usage example and model-index naming `repo_id`, or None when it already does."""
    import yaml
    from huggingface_hub import ModelCard

    if not card_path.is_file() or card_path.stat().st_size > MAX_CARD_BYTES:
        return None
    try:
        card = ModelCard(card_path.read_text(encoding="utf-8"))  # YAML read with yaml.safe_load
    except (UnicodeDecodeError, ValueError, yaml.YAMLError):
        raise UserError(f"{card_path}: not a model card the Hub can read") from None
    text = USAGE_LINE.sub(lambda match: f'{match.group(1)}"{repo_id}"', card.text, count=1)
    if card.data.model_name == repo_id and text == card.text:
        return None
    card.text = text
    if card.data.eval_results:
        card.data.model_name = repo_id
    return str(card)


@contextlib.contextmanager
def folder_to_upload(model_dir: Path, names: list[str], card: str | None) -> Iterator[Path]:
    """The model folder itself, or, when the card must change, a temporary folder of links to its files
    (copies across file systems) with the new card: the saved model is never edited."""
    if card is None:
        yield model_dir
        return
    with tempfile.TemporaryDirectory(prefix="koelectra-push-") as staging:
        for name in names:
            if name != "README.md":
                try:
                    os.link(model_dir / name, Path(staging) / name, follow_symlinks=False)
                except OSError:
                    shutil.copyfile(model_dir / name, Path(staging) / name, follow_symlinks=False)
        (Path(staging) / "README.md").write_text(card, encoding="utf-8")
        yield Path(staging)


def push_model(model_dir: Path, repo_id: str, private: bool = True, retry: str = "") -> str:
    """Upload `model_dir` to `repo_id` (created when missing). Returns the repository's URL."""
    from huggingface_hub import HfApi, get_token

    names = model_files(model_dir)
    card = card_for_repo(model_dir / "README.md", repo_id)
    if get_token() is None:
        raise UserError(f"no Hugging Face token to upload {model_dir} to {repo_id}: log in with `hf auth login` "
                        f"or set HF_TOKEN{retry}")
    api = HfApi()
    try:
        with folder_to_upload(model_dir, names, card) as folder:
            api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=folder, allow_patterns=names,
                              commit_message="Upload model trained with koelectra-cookbook")
    # The upload's failures are many and not ours (network, permissions, quota, the server): each is one line.
    except Exception as exc:  # noqa: BLE001
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise UserError(f"upload of {model_dir} to {repo_id} failed ({reason}){retry}") from None
    return f"https://huggingface.co/{repo_id}"


def push_run(run_dir: Path, repo_id: str, private: bool = True, just_trained: bool = False) -> str:
    """Upload the model of a finished run (`just_trained`: by the trainer that saved it, so a failure says how
    to upload it later)."""
    if not (run_dir / "results.json").is_file():
        raise UserError(f"{run_dir}: not a finished run (no results.json): its model is not saved yet")
    retry = (f"; the run is saved: upload it later with python -m koelectra_cookbook.commands.push {run_dir} {repo_id}"
             if just_trained else "")
    return push_model(run_dir / "model", repo_id, private, retry)
