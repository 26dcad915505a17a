"""One reader for a saved model folder (classifier/model_folder.py): config.json read once, typed, with limits; a
damaged one is one error line; and the prediction path reads it once, whatever it goes on to check."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from koelectra_cookbook.classifier import model_folder
from koelectra_cookbook.classifier.model_folder import read_model_folder
from koelectra_cookbook.errors import UserError


def folder_with(tmp_path: Path, settings) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(settings), encoding="utf-8")
    return tmp_path


def test_the_facts_predict_py_needs_are_typed(tmp_path):
    folder = read_model_folder(folder_with(tmp_path, {
        "id2label": {"0": "negative", "1": "positive"}, "problem_type": "regression", "sentence_pair": True,
        "long_text": {"mode": "windows"}, "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 35000,
        "thresholds": [0.4, 0.6]}))
    assert folder.id2label == {0: "negative", 1: "positive"} and folder.num_labels == 2
    assert folder.regression and not folder.multi_label and folder.kind == {"sentence_pair": True, "regression": True}
    assert folder.long_text == {"mode": "windows"} and folder.thresholds == [0.4, 0.6] and not folder.quantized
    assert (folder.max_position_embeddings, folder.type_vocab_size, folder.vocab_size) == (512, 2, 35000)
    assert folder.config_file == tmp_path / "config.json"


@pytest.mark.parametrize("settings", [{"sentence_pair": "yes", "max_position_embeddings": "512", "num_labels": True},
                                      {"id2label": ["a", "b"], "problem_type": 3}])
def test_values_of_another_type_are_not_taken_as_if_they_were_right(tmp_path, settings):
    folder = read_model_folder(folder_with(tmp_path, settings))
    assert folder.sentence_pair is False and folder.max_position_embeddings is None and folder.num_labels is None
    assert folder.id2label is None and folder.problem_type is None


@pytest.mark.parametrize("content, message", [
    (None, "not a saved model (no config.json)"),
    ("[1, 2]", "not a JSON object"),
    ("{not json", "not a readable config.json"),
    ("x" * (2**20 + 1), "larger than"),
])
def test_a_missing_or_damaged_config_is_one_error_line(tmp_path, content, message):
    if content is not None:
        (tmp_path / "config.json").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=re.escape(message)):
        read_model_folder(tmp_path)


def test_a_linked_config_is_read_as_the_hub_cache_links_it_but_never_a_device(tmp_path):
    (tmp_path / "blobs").mkdir()
    blobs = folder_with(tmp_path / "blobs", {"id2label": {"0": "a"}})
    (tmp_path / "snapshot").mkdir()
    (tmp_path / "snapshot" / "config.json").symlink_to(blobs / "config.json")
    assert read_model_folder(tmp_path / "snapshot").id2label == {0: "a"}
    (tmp_path / "device").mkdir()
    (tmp_path / "device" / "config.json").symlink_to("/dev/zero")
    with pytest.raises(UserError, match="not a saved model"):  # not a regular file: as if there were none
        read_model_folder(tmp_path / "device")


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_prediction_reads_config_json_once(trained_classifier, quantize, monkeypatch, tmp_path):
    """Labels, kind, the int8 cache key, long-text settings and limits all come from the one read."""
    from koelectra_cookbook.inference.predictor import Predictor

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    reads = []
    original = model_folder.read_json

    def counted(path, *args, **kwargs):
        reads.append(Path(path).name)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(model_folder, "read_json", counted)
    predictor = Predictor(trained_classifier, quantize=quantize)
    assert reads == ["config.json"]
    assert predictor.label_names == ["negative", "positive"]


@pytest.fixture(scope="module")
def trained_classifier(tiny_model_dir, tmp_path_factory) -> Path:
    from helpers import classifier_with_a_decided_head

    return classifier_with_a_decided_head(tiny_model_dir, tmp_path_factory.mktemp("classifier"))
