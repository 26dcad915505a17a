"""A split of a Hugging Face dataset (`data.dataset`: a Hub id such as klue/klue, or a local folder laid out as
one) read through the `datasets` library into the same table a data file gives: the text columns as strings, the
label column as the names the dataset's features give its labels. From there dataset.py checks, splits and
encodes the rows exactly as it does a file's: there is no second pipeline.

Only the named columns are read into memory (Arrow keeps the dataset memory-mapped on disk until then); `datasets`
caches what it downloads in its own cache (HF_DATASETS_CACHE), and HF_HUB_OFFLINE=1 reads only that cache."""

from __future__ import annotations

import atexit
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from koelectra_cookbook.config.schema import DataConfig
from koelectra_cookbook.errors import UserError

PARQUET_REVISION = "refs/convert/parquet"  # where the Hub keeps a Parquet copy of a script dataset


@dataclasses.dataclass
class HubSplit:
    name: str  # how messages name it: klue/klue[ynat]:train
    table: pd.DataFrame  # the columns asked for, as strings (a multi-label cell: a JSON list of names)
    label_names: list[str] | None  # the label feature's names in its own id order (a ClassLabel), else None
    kind: str  # "classes", "multi_label" or "scores": what the label feature holds


def described(data: DataConfig) -> str:
    return data.dataset + (f"[{data.dataset_config}]" if data.dataset_config else "")


def read_split(data: DataConfig, split: str, option: str, columns: list[str], label_column: str) -> HubSplit:
    """The `columns` of `split` (named by the config key `option`), the label column's names from its feature."""
    loaded = load_columns(data, split, option, columns)
    label_names, kind = label_feature(loaded.features[label_column])
    table = loaded.select_columns(columns).to_pandas()
    for name in columns:
        if name == label_column:
            # a multi-hot list (0/1 per label, kor_unsmile's) is named by data.labels
            hot = kind == "multi_label" and label_names is None and data.labels is not None
            table[name] = [multi_hot(value, data.labels) if hot else cell(value, label_names, kind)
                           for value in table[name]]
        else:
            table[name] = text_column(table[name])
    return HubSplit(f"{described(data)}:{split}", table, label_names, kind)


def read_texts(data: DataConfig, split: str, columns: list[str]) -> list[list[str]]:
    """The texts of `columns` of a split, in its order (predict.py --dataset)."""
    table = load_columns(data, split, "--split", columns).select_columns(columns).to_pandas()
    return [text_column(table[name]).tolist() for name in columns]


def load_columns(data: DataConfig, split: str, option: str, columns: list[str]):
    """A split of data.dataset (a `datasets.Dataset`, memory-mapped), nested fields flattened to `a.b`, checked to
    have `columns`."""
    try:
        import datasets
    except ImportError:
        raise UserError("data.dataset needs the `datasets` library: pip install -e '.[hub]'") from None
    try:
        loaded = datasets.load_dataset(data.dataset, data.dataset_config, split=split,
                                       revision=data.dataset_revision, cache_dir=local_cache(data.dataset))
    except Exception as problem:  # a dataset from elsewhere can fail in any way: said in one line
        raise UserError(loading_problem(data, split, option, problem)) from None
    loaded = loaded.flatten() if any("." in name for name in columns) else loaded  # a.b: field b of struct a
    missing = [name for name in columns if name not in loaded.column_names]
    if missing:
        raise UserError(f"{described(data)}:{split}: no column {missing[0]!r} (it has: "
                        f"{', '.join(loaded.column_names)})")
    return loaded


_LOCAL_CACHES: dict[str, str] = {}


def local_cache(dataset: str) -> str | None:
    """A cache of this process's own for a local folder, None (datasets' cache) for a Hub id. datasets 5.2 keys the
    prepared splits of a local folder whose README names its configs by the folder's name and the configs alone:
    a second folder named alike read the first one's rows from the shared cache (seen here: a 3-row test folder's
    rows served for KLUE-YNAT's 45,678; tests/test_hub_datasets.py)."""
    if not Path(dataset).is_dir():
        return None
    if dataset not in _LOCAL_CACHES:
        _LOCAL_CACHES[dataset] = tempfile.mkdtemp(prefix="koelectra-datasets-")
        atexit.register(shutil.rmtree, _LOCAL_CACHES[dataset], True)
    return _LOCAL_CACHES[dataset]


def text_column(values: pd.Series) -> pd.Series:
    return values.map(lambda text: "" if text is None else str(text))


def label_feature(feature) -> tuple[list[str] | None, str]:
    """(label names in id order, kind) of a label column's feature: a ClassLabel names its classes; a list of
    ClassLabels is multi-label; a float is a score; anything else gives its values as they are."""
    import datasets

    inner = getattr(feature, "feature", None)  # Sequence / List of something
    if isinstance(feature, datasets.ClassLabel):
        return list(feature.names), "classes"
    if inner is not None:
        return (list(inner.names) if isinstance(inner, datasets.ClassLabel) else None), "multi_label"
    if isinstance(feature, datasets.Value) and feature.dtype.startswith("float"):
        return None, "scores"
    return None, "classes"


def cell(value, names: list[str] | None, kind: str) -> str:
    """A label value as the file readers give it: a name, a score's text, or a JSON list of names."""
    if kind == "multi_label":
        items = [] if value is None else list(value)
        return json.dumps([names[int(item)] if names else str(item) for item in items], ensure_ascii=False)
    if value is None:
        return ""
    if names is not None:
        return names[int(value)] if 0 <= int(value) < len(names) else str(value)  # -1: an unlabelled row
    return str(value)


def multi_hot(value, names: list[str]) -> str:
    """A multi-hot row (one 0 or 1 per label) as the JSON list of the names it marks."""
    items = [] if value is None else [int(item) for item in value]
    if len(items) != len(names) or any(item not in (0, 1) for item in items):
        return json.dumps([str(item) for item in items])  # not multi-hot: its values are said as unknown labels
    return json.dumps([name for name, item in zip(names, items) if item], ensure_ascii=False)


def checked_feature_labels(split: HubSplit, data: DataConfig, regression: bool) -> list[str] | None:
    """The label names the dataset's features give, checked against the config: the kind of label it holds, and
    data.labels where both name the labels (they must agree, in order: data.labels or data.label_names)."""
    if split.kind == "scores" and not regression:
        raise UserError(f"{split.name}: {data.label_column!r} holds scores (floats): set train.task_type=regression")
    if split.kind == "multi_label" and not data.multi_label:
        raise UserError(f"{split.name}: {data.label_column!r} holds a list of labels per row: set "
                        f"data.multi_label=true")
    if split.kind == "classes" and data.multi_label:
        raise UserError(f"{split.name}: {data.label_column!r} holds one label per row, not a list: leave "
                        f"data.multi_label out")
    names = split.label_names
    # a built-in task's data.labels are its files' values (0, 1), its data.label_names the dataset's names
    agrees = data.labels is None or [str(n) for n in data.labels] == names or data.label_names == names
    if names is not None and not agrees:
        only_config = [n for n in data.labels if n not in names]
        only_dataset = [n for n in names if n not in data.labels]
        how = (f"data.labels has {only_config} that the dataset does not, the dataset {only_dataset} that "
               f"data.labels does not" if only_config or only_dataset else "the same names in another order")
        raise UserError(f"{split.name}: the dataset's ClassLabel names its labels {names}; data.labels differs "
                        f"({how}): leave data.labels out to take the dataset's")
    return None if regression else names


def loading_problem(data: DataConfig, split: str, option: str, problem: Exception) -> str:
    """What went wrong loading the dataset, in one line that says what to do."""
    text = " ".join(str(problem).split())
    name, where = type(problem).__name__, described(data)
    if "BuilderConfig" in text and "not found" in text:
        available = text.split("Available:", 1)[-1].strip() if "Available:" in text else ""
        return f"data.dataset_config {data.dataset_config!r}: not a configuration of {data.dataset} ({available})"
    if "Config name is missing" in text or "Please pick one among the available configs" in text:
        available = text.split("available configs:", 1)[-1].split("Example")[0].strip(" .:")
        return f"{data.dataset} has several configurations: set data.dataset_config to one of {available}"
    if text.startswith("Unknown split"):
        return f"{option} {split!r}: not a split of {where} ({text.split('Should be one of', 1)[-1].strip(' .')})"
    if "script" in text.lower() and ("no longer supported" in text or ".py" in text):
        return (f"{data.dataset}: a dataset made by a loading script, which `datasets` no longer runs (and this "
                f"project never would); its Parquet copy may be on the revision {PARQUET_REVISION!r}: set "
                f"data.dataset_revision={PARQUET_REVISION}")
    if name in ("DatasetNotFoundError", "RepositoryNotFoundError", "FileNotFoundError", "EmptyDatasetError"):
        return (f"data.dataset {data.dataset!r}: no such dataset here or on the Hub (a private or gated one needs a "
                f"token: `hf auth login` or HF_TOKEN; offline, HF_HUB_OFFLINE=1 reads only what is cached)")
    if "offline" in text.lower() or name in ("ConnectionError", "OfflineModeIsEnabled", "LocalEntryNotFoundError"):
        return f"data.dataset {data.dataset!r}: not in the local cache, and the Hub cannot be reached ({text[:160]})"
    return f"data.dataset {where}: cannot load it ({name}: {text[:200]})"
