"""Helpers for running a script's main() in-process, as a user would from the command line."""

from __future__ import annotations

from pathlib import Path

from koelectra_cookbook.commands.train import main


def run_cli(trainer_class, *argv: str) -> tuple[int, Path | None]:
    """Run a script's main with these arguments; return (exit status, run directory or None)."""
    status = main(trainer_class, "test", list(argv))
    runs = sorted(Path(argv[argv.index("--output-dir") + 1]).glob("*/*")) if "--output-dir" in argv else []
    return status, (runs[-1] if runs else None)


def classifier_with_a_decided_head(encoder_dir: Path, folder: Path, labels: tuple[str, ...] = ("negative", "positive"),
                                   **settings) -> Path:
    """A saved classifier (two labels unless told): the encoder of `encoder_dir` with a head of large random
    weights, so its outputs are far from 0.5 (a head trained for seconds on the samples stays on the fence, where
    any rounding decides). Quicker than training, and predict.py loads it as it loads a run's model/. `settings`:
    config.json keys a trainer writes (problem_type, sentence_pair, thresholds)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        encoder_dir, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)})
    for key, value in settings.items():
        setattr(model.config, key, value)
    with torch.no_grad():
        for parameter in model.classifier.parameters():
            parameter.normal_(0, 1.0)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(encoder_dir).save_pretrained(folder)
    return folder


def copied_int8_cache(built_cache: Path, tmp_path: Path, monkeypatch) -> Path:
    """A test's own copy of a built int8 cache, as the user's cache folder; returns the int8 folder in it."""
    import shutil

    shutil.copytree(built_cache, tmp_path / "user-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return tmp_path / "user-cache" / "koelectra-cookbook" / "int8"
