"""data.dataset: a Hugging Face dataset read through `datasets`, proven on local folders laid out as Hub dataset
repositories (a README with its configs, Parquet files written by `datasets` itself) and loaded through the same
load_dataset call a Hub id takes. Nothing touches the network."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")

from helpers import run_cli  # noqa: E402
from koelectra_cookbook.config.schema import DataConfig  # noqa: E402
from koelectra_cookbook.data.hub import HubSplit, checked_feature_labels  # noqa: E402
from koelectra_cookbook.errors import UserError  # noqa: E402
from koelectra_cookbook.paths import SAMPLES_DIR  # noqa: E402
from koelectra_cookbook.trainers.beginner import BeginnerTrainer  # noqa: E402

# The ClassLabel's own order, which sorting the names would reverse (긍 sorts before 부): ids must follow it.
NAMES = ["부정", "긍정"]
README = """---
configs:
- config_name: reviews
  data_files:
  - split: train
    path: reviews/train-*
  - split: test
    path: reviews/test-*
---
"""


def sample_rows(name: str) -> list[dict]:
    with open(SAMPLES_DIR / "nsmc" / name, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory) -> Path:
    """The bundled NSMC samples as a Hub dataset repository: config `reviews`, splits train and test."""
    root = tmp_path_factory.mktemp("hub") / "nsmc"
    features = datasets.Features({"id": datasets.Value("string"), "document": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=NAMES)})
    for split, name in [("train", "ratings_train.txt"), ("test", "ratings_test.txt")]:
        rows = sample_rows(name)
        table = datasets.Dataset.from_dict({"id": [row["id"] for row in rows],
                                            "document": [row["document"] for row in rows],
                                            "label": [int(row["label"]) for row in rows]}, features=features)
        (root / "reviews").mkdir(parents=True, exist_ok=True)
        table.to_parquet(root / "reviews" / f"{split}-00000-of-00001.parquet")
    (root / "README.md").write_text(README, encoding="utf-8")
    return root


def hub_args(tmp_path: Path, folder: Path, model: Path, *sets: str) -> list[str]:
    settings = {"data.dataset": str(folder), "data.dataset_config": "reviews", "data.dataset_eval_split": "test",
                "data.text_column": "document", "data.cache_dir": str(tmp_path / "cache"),
                "model.name_or_path": str(model), "train.max_steps": "4", "train.batch_size": "16",
                "data.labels": "null", "data.label_names": "null"}  # nsmc's own: the files' 0 and 1
    arguments = ["--task", "nsmc", "--output-dir", str(tmp_path / "runs")]
    for key, value in settings.items():
        arguments += ["--set", f"{key}={value}"]
    for extra in sets:
        arguments += ["--set", extra]
    return arguments


def test_a_run_from_a_dataset_folder_takes_its_labels_from_the_class_label_and_matches_the_files(
        tmp_path, hub_folder, tiny_model_dir, capsys):
    status, run = run_cli(BeginnerTrainer, *hub_args(tmp_path, hub_folder, tiny_model_dir))
    out = capsys.readouterr().out
    assert status == 0, out
    config = json.loads((run / "model" / "config.json").read_text(encoding="utf-8"))
    assert config["id2label"] == {"0": "부정", "1": "긍정"}  # the feature's order, not sorted names
    assert "2 labels (부정, 긍정)" in out
    # the same rows from the sample files, their labels named alike: the same rows, splits and metrics
    status, from_files = run_cli(BeginnerTrainer, "--task", "nsmc", "--output-dir", str(tmp_path / "files"),
                                 "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                                 "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.max_steps=4",
                                 "--set", "train.batch_size=16", "--set", "data.labels=[0,1]",
                                 "--set", "data.label_names=[부정,긍정]")
    assert status == 0
    hub_results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    file_results = json.loads((from_files / "results.json").read_text(encoding="utf-8"))
    assert hub_results["eval"] == file_results["eval"]
    hub_predictions = (run / "predictions.csv").read_text(encoding="utf-8")
    assert hub_predictions == (from_files / "predictions.csv").read_text(encoding="utf-8")
    # compare.py ranks them apart: the dataset (and its config) is part of the task's table
    from koelectra_cookbook.commands.compare import main as compare

    capsys.readouterr()
    assert compare([str(tmp_path / "runs"), str(tmp_path / "files")]) == 0
    titles = [line for line in capsys.readouterr().out.splitlines() if line.startswith("## ")]
    assert titles == ["## nsmc (dev accuracy)", f"## nsmc ({hub_folder.parent.name}/nsmc reviews) (dev accuracy)"]


@pytest.mark.parametrize("sets, expected", [
    (["data.dataset_config=sentences"], "data.dataset_config 'sentences': not a configuration of"),
    (["data.dataset_eval_split=validation"], "data.dataset_eval_split 'validation': not a split of"),
    (["data.text_column=review"], "no column 'review' (it has: id, document, label)"),
    (["data.labels=[긍정,부정]"], "data.labels differs (the same names in another order)"),
    (["data.dataset=/nonexistent/dataset/folder"], "no such dataset here or on the Hub"),
    (["data.dataset=klue/klue"], "not in the local cache, and the Hub cannot be reached"),  # HF_HUB_OFFLINE=1
])
def test_a_bad_dataset_name_config_split_or_column_is_one_error_line(tmp_path, hub_folder, tiny_model_dir, capsys,
                                                                   sets, expected):
    status, _ = run_cli(BeginnerTrainer, *hub_args(tmp_path, hub_folder, tiny_model_dir, *sets))
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and lines[-1].startswith("error: ") and expected in lines[-1], lines[-3:]
    assert "Traceback" not in "\n".join(lines)


def test_a_script_only_dataset_is_refused_without_running_its_script(tmp_path, tiny_model_dir, capsys):
    folder = tmp_path / "kor_old"
    folder.mkdir()
    marker = tmp_path / "ran"
    (folder / "kor_old.py").write_text(f"open({str(marker)!r}, 'w')\nimport datasets\n", encoding="utf-8")
    status, _ = run_cli(BeginnerTrainer, *hub_args(tmp_path, folder, tiny_model_dir, "data.dataset_config=null"))
    err = capsys.readouterr().err
    assert status == 2 and not marker.exists()
    assert "made by a loading script" in err and "refs/convert/parquet" in err and "Traceback" not in err


def split_of(kind: str, names: list[str] | None = None) -> HubSplit:
    return HubSplit("some/dataset:train", None, names, kind)


def test_the_label_feature_must_fit_the_task():
    data = DataConfig(dataset="some/dataset")
    with pytest.raises(UserError, match="task_type=regression"):
        checked_feature_labels(split_of("scores"), data, regression=False)
    with pytest.raises(UserError, match="data.multi_label=true"):
        checked_feature_labels(split_of("multi_label", ["a", "b"]), data, regression=False)
    assert checked_feature_labels(split_of("classes", ["x", "y"]), data, regression=False) == ["x", "y"]
    assert checked_feature_labels(split_of("scores"), data, regression=True) is None
    data.labels = ["x", "z"]
    with pytest.raises(UserError, match=r"data.labels has \['z'\]"):
        checked_feature_labels(split_of("classes", ["x", "y"]), data, regression=False)


def test_a_built_in_task_switches_to_its_hub_twin_with_the_same_labels(tmp_path, tiny_model_dir, capsys):
    """--set data.source=hub: ynat read from a folder laid out as klue/klue (config ynat), its ClassLabel in KLUE's
    order as the built-in task's data.labels are; HF_HUB_OFFLINE stops the real id, so the folder stands in."""
    from koelectra_cookbook.config.tasks import task_spec

    labels = task_spec("ynat").data_defaults["labels"]
    features = datasets.Features({"title": datasets.Value("string"), "label": datasets.ClassLabel(names=labels)})
    folder = tmp_path / "klue"
    (folder / "ynat").mkdir(parents=True)
    titles = [f"{name} 소식 {i}" for i in range(6) for name in labels]
    table = datasets.Dataset.from_dict({"title": titles, "label": [i % 7 for i in range(len(titles))]},
                                       features=features)
    for split in ("train", "validation"):
        table.to_parquet(folder / "ynat" / f"{split}-00000-of-00001.parquet")
    (folder / "README.md").write_text("---\nconfigs:\n- config_name: ynat\n  data_files:\n  - split: train\n    path: "
                                      "ynat/train-*\n  - split: validation\n    path: ynat/validation-*\n---\n")
    status, run = run_cli(BeginnerTrainer, "--task", "ynat", "--output-dir", str(tmp_path / "runs"),
                          "--set", "data.source=hub", "--set", f"data.dataset={folder}",
                          "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", f"model.name_or_path={tiny_model_dir}",
                          "--set", "train.max_steps=2", "--set", "train.batch_size=8")
    assert status == 0, capsys.readouterr().err[-2000:]
    config = json.loads((run / "model" / "config.json").read_text(encoding="utf-8"))
    assert [config["id2label"][str(i)] for i in range(7)] == labels
    saved = (run / "config.yaml").read_text(encoding="utf-8")
    assert "dataset_config: ynat" in saved and "source: hub" in saved


def test_a_task_without_a_single_hub_twin_says_so(tmp_path, tiny_model_dir, capsys):
    status, _ = run_cli(BeginnerTrainer, "--task", "kornli", "--output-dir", str(tmp_path / "runs"),
                        "--set", "data.source=hub", "--set", f"model.name_or_path={tiny_model_dir}")
    assert status == 2 and "has no single dataset on the Hub" in capsys.readouterr().err


def test_the_card_names_the_hub_dataset_its_config_and_splits():
    from koelectra_cookbook.config.schema import build_config
    from koelectra_cookbook.runs.model_card import card_data

    config = build_config([("t", {"task": "headlines", "data": {
        "dataset": "klue/klue", "dataset_config": "ynat", "dataset_eval_split": "validation"},
        "train": {"metrics": ["macro_f1"]}})])
    results = {"eval": {"macro_f1": 0.5}, "dev": {"macro_f1": 0.6}}
    front = card_data(config, results, "m")
    assert front.datasets == ["klue/klue"]
    [evaluation, dev] = front.eval_results
    assert (evaluation.dataset_type, evaluation.dataset_config, evaluation.dataset_split) == (
        "klue/klue", "ynat", "validation")
    assert dev.dataset_split == "train"  # held out of the train split
    local = build_config([("t", {"task": "mine", "data": {"dataset": "/data/folder"},
                                 "train": {"metrics": ["accuracy"]}})])
    assert card_data(local, {"eval": {}}, "m").datasets is None  # a local folder is no Hub dataset


def test_predict_py_classifies_a_split_of_a_dataset(tmp_path, hub_folder, tiny_model_dir, capsys):
    from helpers import classifier_with_a_decided_head
    from koelectra_cookbook.commands import predict

    model = classifier_with_a_decided_head(tiny_model_dir, tmp_path / "model")
    arguments = ["--model", str(model), "--dataset", str(hub_folder), "--dataset-config", "reviews",
                 "--split", "test", "--text-column", "document", "--output", str(tmp_path / "out.csv")]
    assert predict.main(arguments) == 0
    rows = list(csv.DictReader(open(tmp_path / "out.csv", encoding="utf-8")))
    assert [row["text"] for row in rows] == [row["document"] for row in sample_rows("ratings_test.txt")]
    capsys.readouterr()
    assert predict.main([*arguments[:6], "--split", "dev", "--text-column", "document"]) == 2
    assert "--split 'dev': not a split of" in capsys.readouterr().err


def test_two_local_folders_of_the_same_name_each_give_their_own_rows(tmp_path):
    """datasets' shared cache keys a local folder by its name: each folder must still be read for itself."""
    from koelectra_cookbook.data.hub import read_texts

    read = []
    for place, texts in [("one", ["가", "나"]), ("two", ["다", "라", "마"])]:
        folder = tmp_path / place / "same"  # the same name, the same README: only the rows differ
        (folder / "cfg").mkdir(parents=True)
        datasets.Dataset.from_dict({"text": texts}).to_parquet(folder / "cfg" / "train-00000-of-00001.parquet")
        (folder / "README.md").write_text("---\nconfigs:\n- config_name: cfg\n  data_files:\n  - split: train\n"
                                          "    path: cfg/train-*\n---\n")
        read.append(read_texts(DataConfig(dataset=str(folder), dataset_config="cfg"), "train", ["text"])[0])
    assert read == [["가", "나"], ["다", "라", "마"]]
