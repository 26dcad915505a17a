"""The model card a run writes (front matter the Hub reads, no local paths, a usage example that runs) and
--push-to-hub / `python -m koelectra_cookbook.commands.push`, with the upload replaced: nothing here touches the network."""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from helpers import run_cli
from koelectra_cookbook.commands import push
from koelectra_cookbook.runs.model_card import is_hub_id, portable_config, portable_path
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.expert import ExpertTrainer
from koelectra_cookbook.trainers.multi_label import MultiLabelTrainer


def short_run(tmp_path, model_dir, trainer=BeginnerTrainer, task="ynat", *extra):
    status, run = run_cli(trainer, "--task", task, "--output-dir", str(tmp_path / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / task}", "--set", f"data.cache_dir={tmp_path / 'cache'}",
                          "--set", f"model.name_or_path={model_dir}", "--set", "train.max_steps=6",
                          "--set", "train.learning_rate=1e-3", *extra)
    assert status == 0
    return run


def front_matter(card: str) -> dict:
    match = re.match(r"---\n(.*?)\n---\n", card, re.S)
    assert match, "the card starts with YAML front matter"
    return yaml.safe_load(match.group(1))


def usage_code(card: str) -> str:
    return re.search(r"## Use\n.*?```python\n(.*?)```", card, re.S).group(1)


@pytest.fixture(scope="module")
def ynat_run(tmp_path_factory, tiny_model_dir):
    return short_run(tmp_path_factory.mktemp("card"), tiny_model_dir, BeginnerTrainer, "ynat",
                     "--set", "model.license=apache-2.0")


def test_the_card_has_a_model_index_with_the_results_of_the_run(ynat_run):
    card = (ynat_run / "model" / "README.md").read_text(encoding="utf-8")
    results = json.loads((ynat_run / "results.json").read_text())
    meta = front_matter(card)
    assert meta["language"] == "ko" and meta["license"] == "apache-2.0" and meta["datasets"] == ["klue/klue"]
    assert "base_model" not in meta  # the base is a local folder, not a Hub id
    entries = meta["model-index"][0]["results"]
    evaluation, dev = entries[0], entries[1]
    assert evaluation["dataset"] == {"name": "KLUE-YNAT", "type": "klue/klue", "config": "ynat", "split": "validation"}
    headline = evaluation["metrics"][0]  # a metric id of hf.co/metrics, with the arguments that make ours
    assert headline["type"] == "f1" and headline["args"] == {"average": "macro"}
    assert headline["value"] == results["eval"]["macro_f1"] and headline["name"] == "Macro F1 (eval)"
    assert "dev" in dev["dataset"]["name"] and dev["metrics"][0]["value"] == results["dev"]["macro_f1"]
    assert dev["dataset"]["split"] == "train"  # held out from the training file
    assert dev["metrics"][0]["name"].endswith("(dev)")


def test_nothing_in_the_model_folder_names_a_local_absolute_path(ynat_run, tiny_model_dir):
    local = {str(ynat_run.parent.parent.parent), str(tiny_model_dir), str(PROJECT_ROOT), str(Path.home()),
             str(Path.cwd())}
    for file in (ynat_run / "model").iterdir():
        if file.suffix in (".json", ".md", ".txt"):
            text = file.read_text(encoding="utf-8")
            assert not [path for path in local if path in text], file.name
    card = (ynat_run / "model" / "README.md").read_text(encoding="utf-8")
    assert f"`{tiny_model_dir.name}` (a local model)" in card
    assert f"model=\".../ynat/{ynat_run.name}/model\"" in card  # the run is outside the working directory
    assert card.count("rows held out") == 1  # the dev split is listed once


def test_the_usage_example_uses_the_tasks_first_evaluation_text_and_runs(ynat_run):
    card = (ynat_run / "model" / "README.md").read_text(encoding="utf-8")
    first = json.loads((SAMPLES_DIR / "ynat" / "ynat-v1.1_dev.json").read_text(encoding="utf-8"))[0]["title"]
    code = usage_code(card)
    assert json.dumps(first, ensure_ascii=False) in code and "영화" not in code
    printed = []
    exec(re.sub(r'model="[^"]*"', f'model="{ynat_run / "model"}"', code), {"print": lambda *values: printed.append(values)})
    assert printed[0][0][0]["label"] in ["IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"]


def test_a_multi_label_card_explains_the_thresholds_and_its_example_applies_them(tmp_path, tiny_model_dir):
    run = short_run(tmp_path, tiny_model_dir, MultiLabelTrainer, "unsmile")
    card = (run / "model" / "README.md").read_text(encoding="utf-8")
    assert front_matter(card)["datasets"] == ["smilegate-ai/kor_unsmile"]
    code = usage_code(card)
    assert 'function_to_apply="sigmoid", top_k=None' in code and "thresholds" in card
    printed = []
    exec(re.sub(r'model="[^"]*"', f'model="{run / "model"}"', code), {"print": lambda *values: printed.append(values)})
    (scores, labels), = printed
    config = json.loads((run / "model" / "config.json").read_text())
    thresholds, label2id = config["thresholds"], config["label2id"]
    assert len(scores) == len(thresholds) == 10
    assert set(labels) == {s["label"] for s in scores if s["score"] >= thresholds[label2id[s["label"]]]}


def run_usage_code(card: str, model_dir: Path) -> list:
    """Execute the card's usage example against the saved folder; what it prints."""
    printed = []
    exec(re.sub(r'model="[^"]*"', f'model="{model_dir}"', usage_code(card)),
         {"print": lambda *values: printed.append(values)})
    return printed


def first_row(run: Path) -> dict:
    with open(run / "predictions.csv", newline="", encoding="utf-8") as handle:
        return next(csv.DictReader(handle))


@pytest.fixture(scope="module")
def korsts_run(tmp_path_factory, tiny_model_dir):
    return short_run(tmp_path_factory.mktemp("card-sts"), tiny_model_dir, ExpertTrainer, "korsts",
                     "--set", "data.download=false")


@pytest.fixture(scope="module")
def kornli_run(tmp_path_factory, tiny_model_dir):
    return short_run(tmp_path_factory.mktemp("card-nli"), tiny_model_dir, ExpertTrainer, "kornli",
                     "--set", "data.download=false")


def test_a_pair_card_passes_both_texts_and_its_example_runs(kornli_run):
    card = (kornli_run / "model" / "README.md").read_text(encoding="utf-8")
    row = first_row(kornli_run)  # the evaluation file's first pair, as the run predicted it
    code = usage_code(card)
    pair = json.dumps({"text": row["text"], "text_pair": row["text_pair"]}, ensure_ascii=False)
    assert f"classify({pair}, truncation=True, max_length=128)" in code
    (result,), = run_usage_code(card, kornli_run / "model")
    assert result["label"] == row["prediction"] and result["score"] == pytest.approx(float(row["score"]), abs=1e-4)
    assert "(sentence pairs, single-label)" in card and "0: entailment, 1: neutral, 2: contradiction" in card


def test_a_pair_cards_model_index_names_the_dataset_and_its_dev_file(kornli_run):
    card = (kornli_run / "model" / "README.md").read_text(encoding="utf-8")
    results = json.loads((kornli_run / "results.json").read_text())
    meta = front_matter(card)
    assert meta["datasets"] == ["kakaobrain/kor_nlu"] and "sentence-pair" in meta["tags"]
    evaluation, dev = meta["model-index"][0]["results"]
    assert evaluation["dataset"] == {"name": "KorNLI", "type": "kakaobrain/kor_nlu", "config": "nli", "split": "test"}
    assert dev["dataset"] == {"name": "KorNLI (dev: xnli.dev.ko.tsv)", "type": "kakaobrain/kor_nlu", "config": "nli",
                              "split": "validation"}
    assert [(m["type"], m.get("args")) for m in evaluation["metrics"]] == \
        [("accuracy", None), ("f1", {"average": "macro"})]
    assert evaluation["metrics"][0]["value"] == results["eval"]["accuracy"]
    assert dev["metrics"][0]["value"] == results["dev"]["accuracy"]
    data = card.split("## Data\n")[1].split("\n## ")[0]
    assert "- dev: `xnli.dev.ko.tsv`, 60 rows (data.dev_file" in data and "rows held out" not in data
    assert data.count("xnli.dev.ko.tsv") == 1 and "| dev file (xnli.dev.ko.tsv) |" in card


def test_a_regression_card_says_it_predicts_a_score_and_its_example_prints_it(korsts_run):
    card = (korsts_run / "model" / "README.md").read_text(encoding="utf-8")
    row = first_row(korsts_run)
    code = usage_code(card)
    pair = json.dumps({"text": row["text"], "text_pair": row["text_pair"]}, ensure_ascii=False)
    assert f"predict([{pair}], truncation=True, max_length=128)[0]" in code
    (score,), = run_usage_code(card, korsts_run / "model")
    # the pipeline's score is the model's output as it is: the score the run predicted for that pair
    assert isinstance(score, float) and score == pytest.approx(float(row["prediction"]), abs=1e-4)
    labels = card.split("## Labels\n")[1].split("\n## ")[0]
    assert "0: score" not in labels and "predicts one score per pair" in labels
    assert "the training scores run from 0 to 5" in labels
    assert "applies no function to a regression model's output" in card.split("## Use\n")[1]
    assert "(sentence pairs, regression: one output, a predicted score)" in card


def test_a_regression_cards_model_index_has_the_correlations_and_mse(korsts_run):
    card = (korsts_run / "model" / "README.md").read_text(encoding="utf-8")
    results = json.loads((korsts_run / "results.json").read_text())
    meta = front_matter(card)
    assert meta["datasets"] == ["kakaobrain/kor_nlu"] and {"sentence-pair", "regression"} <= set(meta["tags"])
    evaluation, dev = meta["model-index"][0]["results"]
    assert evaluation["dataset"] == {"name": "KorSTS", "type": "kakaobrain/kor_nlu", "config": "sts", "split": "test"}
    assert dev["dataset"]["split"] == "validation" and dev["dataset"]["name"] == "KorSTS (dev: sts-dev.tsv)"
    for entry, split in ((evaluation, "eval"), (dev, "dev")):
        assert [m["type"] for m in entry["metrics"]] == ["spearmanr", "pearsonr", "mse"]  # the headline first
        assert [m["name"] for m in entry["metrics"]] == [f"Spearman ({split})", f"Pearson ({split})", f"MSE ({split})"]
        assert [m["value"] for m in entry["metrics"]] == [results[split][n] for n in ("spearman", "pearson", "mse")]
    assert "- dev: `sts-dev.tsv`" in card


def test_pushing_a_regression_pair_model_uploads_the_same_card_naming_the_repo(korsts_run, monkeypatch, capsys):
    hub = FakeHub().install(monkeypatch)
    saved = (korsts_run / "model" / "README.md").read_text(encoding="utf-8")
    assert push.main([str(korsts_run), "someone/korsts"]) == 0
    (_, _, files), = hub.uploads
    card = files["README.md"].decode()
    assert card.replace('model="someone/korsts"', "").replace("name: someone/korsts", "") == \
        re.sub(r'model="[^"]*"', "", saved).replace(f"name: {front_matter(saved)['model-index'][0]['name']}", "")
    assert 'predict = pipeline("text-classification", model="someone/korsts")' in card
    assert front_matter(card)["model-index"][0]["name"] == "someone/korsts"
    assert json.loads(files["config.json"])["sentence_pair"] is True
    capsys.readouterr()


def test_paths_in_a_card_are_relative_to_the_start_or_cut_to_their_name(tmp_path):
    start = tmp_path / "project"
    (start / "data").mkdir(parents=True)
    assert portable_path(str(start / "data" / "nsmc"), start) == "data/nsmc"
    assert portable_path("/home/someone/models/base", start) == ".../base"
    assert portable_path("/home/someone/runs/nsmc/x/model", start, keep=3) == ".../nsmc/x/model"
    assert portable_path("../shared/data", start) == "../shared/data"  # as the user gave it
    config = {"task": "t", "model": {"name_or_path": str(start / "m")},
              "data": {"dir": "/srv/data/nsmc", "labels": ["/r/korea", "b"]}}
    assert portable_config(config, start) == {"task": "t", "model": {"name_or_path": "m"},
                                              "data": {"dir": ".../nsmc", "labels": ["/r/korea", "b"]}}
    assert config["data"]["dir"] == "/srv/data/nsmc"  # the run's own config is not changed


def test_a_license_is_a_license_id():
    from koelectra_cookbook.config.schema import build_config
    from koelectra_cookbook.errors import UserError

    assert build_config([("t", {"model": {"license": "cc-by-sa-4.0"}})]).model.license == "cc-by-sa-4.0"
    with pytest.raises(UserError, match="model.license must be a license id"):
        build_config([("t", {"model": {"license": "MIT License"}})])


def test_a_hub_id_is_told_from_a_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_hub_id("monologg/koelectra-base-v3-discriminator") and is_hub_id("bert-base-uncased")
    (tmp_path / "models" / "mine").mkdir(parents=True)
    assert not is_hub_id("models/mine") and not is_hub_id("/abs/path") and not is_hub_id("../x/y")


# --- uploading -------------------------------------------------------------------------------------------


class FakeHub:
    """Stands in for huggingface_hub's HfApi: records what would be uploaded, or fails like the network."""

    def __init__(self, fail: Exception | None = None):
        self.fail, self.created, self.uploads = fail, [], []

    def install(self, monkeypatch, token="hf_test"):
        import huggingface_hub

        monkeypatch.setattr(huggingface_hub, "get_token", lambda: token)
        monkeypatch.setattr(huggingface_hub, "HfApi", lambda *a, **k: self)
        return self

    def create_repo(self, repo_id, private=None, exist_ok=False, **_):
        if self.fail:
            raise self.fail
        self.created.append((repo_id, private))

    def upload_folder(self, repo_id, folder_path, allow_patterns=None, **_):
        files = {name: (Path(folder_path) / name).read_bytes() for name in allow_patterns}
        self.uploads.append((repo_id, sorted(os.listdir(folder_path)), files))


def test_push_to_hub_uploads_the_saved_model_privately_and_the_card_names_the_repo(tmp_path, tiny_model_dir,
                                                                                   monkeypatch, capsys):
    hub = FakeHub().install(monkeypatch)
    run = short_run(tmp_path, tiny_model_dir, BeginnerTrainer, "ynat", "--push-to-hub", "someone/ynat-tiny")
    assert hub.created == [("someone/ynat-tiny", True)]
    (repo, listed, files), = hub.uploads
    assert set(files) == {p.name for p in (run / "model").iterdir()}
    card = files["README.md"].decode()
    assert 'model="someone/ynat-tiny"' in card and front_matter(card)["model-index"][0]["name"] == "someone/ynat-tiny"
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-2:] == ["uploaded: https://huggingface.co/someone/ynat-tiny", f"run: {run}"]


def test_a_failed_upload_is_one_error_line_and_the_run_is_kept(tmp_path, tiny_model_dir, monkeypatch, capsys):
    FakeHub(fail=ConnectionError("[Errno -3] Temporary failure in name resolution")).install(monkeypatch)
    status, run = run_cli(BeginnerTrainer, "--task", "ynat", "--demo", "--output-dir", str(tmp_path / "runs"),
                          "--set", "train.max_steps=2", "--push-to-hub", "someone/x")
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and (run / "results.json").is_file() and (run / "model" / "model.safetensors").is_file()
    assert err[-1].startswith("error: upload of ") and "Temporary failure in name resolution" in err[-1]
    assert f"python -m koelectra_cookbook.commands.push {run} someone/x" in err[-1]


def test_no_token_is_said_before_training_and_is_one_error_line_after_it(tmp_path, monkeypatch, capsys):
    hub = FakeHub().install(monkeypatch, token=None)
    status, run = run_cli(BeginnerTrainer, "--task", "ynat", "--demo", "--output-dir", str(tmp_path / "runs"),
                          "--set", "train.max_steps=2", "--push-to-hub", "someone/x")
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and (run / "results.json").is_file() and hub.uploads == []
    assert err[0].startswith("note: no Hugging Face token found")
    assert err[-1].startswith("error: no Hugging Face token") and "hf auth login" in err[-1]


def test_a_bad_repository_id_stops_before_anything_runs(tmp_path, capsys):
    status, run = run_cli(BeginnerTrainer, "--task", "ynat", "--demo", "--output-dir", str(tmp_path / "runs"),
                          "--push-to-hub", "../../etc")
    assert status == 2 and run is None
    assert capsys.readouterr().err.strip().startswith("error: argument --push-to-hub: ")


def test_pushing_a_finished_run_later_changes_only_the_uploaded_card(ynat_run, monkeypatch, capsys):
    hub = FakeHub().install(monkeypatch)
    before = (ynat_run / "model" / "README.md").read_bytes()
    assert push.main([str(ynat_run), "someone/ynat", "--public"]) == 0
    (_, listed, files), = hub.uploads
    assert hub.created == [("someone/ynat", False)]
    assert 'model="someone/ynat"' in files["README.md"].decode()
    assert files["model.safetensors"] == (ynat_run / "model" / "model.safetensors").read_bytes()
    assert (ynat_run / "model" / "README.md").read_bytes() == before
    assert capsys.readouterr().out.strip() == "uploaded: https://huggingface.co/someone/ynat"


@pytest.mark.parametrize("damage, message", [
    ("link", "a link; only a model folder's files are uploaded"),
    ("folder", "a folder; only a model folder's files are uploaded"),
    ("pickle", "not a model file"),
    ("unfinished", "not a finished run (no results.json)"),
    ("card", "not a model card the Hub can read"),
])
def test_a_run_folder_from_elsewhere_cannot_make_push_upload_other_files(ynat_run, tmp_path, monkeypatch, capsys,
                                                                        damage, message):
    hub = FakeHub().install(monkeypatch)
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    for file in (ynat_run / "model").iterdir():
        (run / "model" / file.name).write_bytes(file.read_bytes())
    (run / "results.json").write_text("{}")
    secret = tmp_path / "id_ed25519"
    secret.write_text("PRIVATE KEY")
    if damage == "link":
        (run / "model" / "notes.txt").symlink_to(secret)
    elif damage == "folder":
        (run / "model" / "extra").mkdir()
    elif damage == "pickle":
        (run / "model" / "pytorch_model.bin").write_bytes(b"\x80\x04")
    elif damage == "card":
        (run / "model" / "README.md").write_text("---\n: : [\n---\n# a card\n", encoding="utf-8")
    else:
        (run / "results.json").unlink()
    assert push.main([str(run), "someone/x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert hub.uploads == [] and hub.created == []
