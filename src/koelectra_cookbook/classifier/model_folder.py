"""A saved model folder's config.json, read once into one typed object (as runs/reader.py reads a run's files).

Prediction reads a model folder in several places: the weights check (is it a quantized checkpoint?), the label
settings, the int8 cache (the model's kind, part of the cache key), the long-text reading and the model's limits.
Each used to open config.json itself; now `read_model_folder` reads it once, with a size limit, and the
`ModelFolder` it returns is passed down. A link is followed to a regular file (the Hub's cache keeps a model's
files as links, and transformers reads config.json through them anyway), never to a pipe or a device. The checks
stay where they are (folder_checks.py, loading.py, data/long_text.py): this module only reads and types. No torch, no transformers: the int8 path reads a
model through this alone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.safe_json import DamagedState, read_json
from koelectra_cookbook.files.values import parse_whole_number

CONFIG_FILE = "config.json"
CONFIG_LIMIT = 2**20  # label lists make it long at most: a config.json is a few kilobytes


@dataclass(frozen=True)
class ModelFolder:
    """What a model folder's config.json says of the model. Values are as written (a stranger's folder may hold
    anything): a field the file lacks, or holds in another type, is None here, and the checks say what is wrong."""

    path: Path
    problem_type: str | None = None
    sentence_pair: bool = False  # two texts a row (written by this project's trainers)
    long_text: Any = None  # how the model reads a long text (data/long_text.py checks it)
    quantized: bool = False  # a quantization_config: not a full-precision checkpoint
    id2label: dict[int, Any] | None = None  # label names by id, ids as numbers (JSON writes them as strings)
    num_labels: int | None = None
    thresholds: Any = None  # multi-label decision thresholds (folder_checks.label_settings checks them)
    max_position_embeddings: int | None = None
    type_vocab_size: int | None = None
    vocab_size: int | None = None
    columns: Any = None  # the columns the run read: {"text", "text_pair", "label" or "label_columns"} (unchecked)
    label_values: Any = None  # the labels as the run's files wrote them, in id order, where they differ from names
    calibration: Any = None  # the temperature already folded into the weights, a record only (never applied)

    def temperature(self) -> list[float] | None:
        """The folded temperature(s) `calibration` records, when it holds one positive number, or one per label;
        else None."""
        values = self.calibration.get("temperature") if isinstance(self.calibration, dict) else None
        if not isinstance(values, list) or len(values) not in (1, self.num_labels):
            return None
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf") for v in values):
            return [float(v) for v in values]
        return None

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def regression(self) -> bool:
        return self.problem_type == "regression"

    @property
    def multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    def column(self, role: str) -> str | None:
        """The column the run read for `role` (text, text_pair, label), when config.json names it as a string."""
        name = self.columns.get(role) if isinstance(self.columns, dict) else None
        return name if isinstance(name, str) and name.strip() else None

    @property
    def kind(self) -> dict[str, bool]:
        """What the model takes and gives: two texts a row or one, a score or classes (the int8 cache's key)."""
        return {"sentence_pair": self.sentence_pair, "regression": self.regression}


def read_model_folder(path: str | Path) -> ModelFolder:
    """The model folder at `path`, its config.json read and typed. A folder without one is not a saved model; a
    config.json that is not a JSON object of reasonable size is damaged: either is one error line."""
    path = Path(path)
    config_file = path / CONFIG_FILE
    if not config_file.is_file():
        raise UserError(f"--model {path}: not a saved model (no {CONFIG_FILE}); give RUN_DIR/model")
    try:
        settings = read_json(config_file, limit=CONFIG_LIMIT, follow_links=True)
    except DamagedState as problem:
        raise UserError(f"{config_file}: not a readable {CONFIG_FILE} ({problem})") from None
    if not isinstance(settings, dict):
        raise UserError(f"{config_file}: not a readable {CONFIG_FILE} (not a JSON object)")
    return model_folder_of(path, settings)


def model_folder_of(path: Path, settings: dict) -> ModelFolder:
    """A ModelFolder of config.json's `settings` (a mapping)."""
    id2label = settings.get("id2label")
    if isinstance(id2label, dict):
        id2label = {label_id(key): name for key, name in id2label.items()}
    else:
        id2label = None
    num_labels = whole_number(settings.get("num_labels"))
    if num_labels is None and id2label is not None:
        num_labels = len(id2label)  # transformers writes id2label and derives num_labels from it
    problem_type = settings.get("problem_type")
    return ModelFolder(
        path=path,
        problem_type=problem_type if isinstance(problem_type, str) else None,
        sentence_pair=settings.get("sentence_pair") is True,
        long_text=settings.get("long_text"),
        quantized="quantization_config" in settings,
        id2label=id2label,
        num_labels=num_labels,
        thresholds=settings.get("thresholds"),
        max_position_embeddings=whole_number(settings.get("max_position_embeddings")),
        type_vocab_size=whole_number(settings.get("type_vocab_size")),
        vocab_size=whole_number(settings.get("vocab_size")),
        columns=settings.get("columns"),
        label_values=settings.get("label_values"),
        calibration=settings.get("calibration"),
    )


def label_id(key):
    """An id2label key as the id it writes ("0" -> 0; ASCII digits only: "²" and "１" are no ids), else as it is."""
    number = parse_whole_number(key) if isinstance(key, str) else None
    return number if number is not None and number >= 0 and key.strip() == key else key


def whole_number(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
