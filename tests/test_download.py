"""Downloads, exercised on local files (file:// URLs) and an unreachable address: nothing leaves the machine."""

from __future__ import annotations

import dataclasses

import pytest

from koelectra_cookbook.data import download as download_module
from koelectra_cookbook.data.download import ensure_file
from koelectra_cookbook.config.tasks import TASKS, RemoteFile
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.paths import SAMPLES_DIR


def nsmc_from(url_of) -> object:
    spec = TASKS["nsmc"]
    files = tuple(RemoteFile(f.name, url_of(f.name), rows) for f, rows in zip(spec.remote_files, (300, 100)))
    return dataclasses.replace(spec, remote_files=files)


def test_missing_file_is_downloaded_verified_and_then_reused(tmp_path, capsys):
    spec = nsmc_from(lambda name: (SAMPLES_DIR / "nsmc" / name).as_uri())
    path = ensure_file(tmp_path / "nsmc", "ratings_train.txt", spec, allow_download=True)
    assert path.read_bytes() == (SAMPLES_DIR / "nsmc" / "ratings_train.txt").read_bytes()
    assert "downloading" in capsys.readouterr().out
    assert ensure_file(tmp_path / "nsmc", "ratings_train.txt", spec, allow_download=True) == path
    assert "downloading" not in capsys.readouterr().out  # reused, not fetched again


def test_a_download_with_the_wrong_row_count_is_rejected_and_leaves_nothing(tmp_path):
    spec = nsmc_from(lambda name: (SAMPLES_DIR / "nsmc" / "ratings_test.txt").as_uri())  # 100 rows, not 300
    with pytest.raises(UserError, match="expected 300 rows, got 100"):
        ensure_file(tmp_path, "ratings_train.txt", spec, allow_download=True)
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_source_says_what_to_put_where(tmp_path):
    spec = nsmc_from(lambda name: f"http://127.0.0.1:9/{name}")  # the discard port: nothing listens
    with pytest.raises(UserError) as error:
        ensure_file(tmp_path / "nsmc", "ratings_train.txt", spec, allow_download=True)
    message = str(error.value)
    assert "cannot download http://127.0.0.1:9/ratings_train.txt" in message
    assert f"put ratings_train.txt in {tmp_path / 'nsmc'}" in message
    assert not (tmp_path / "nsmc" / "ratings_train.txt").exists()
    assert not (tmp_path / "nsmc" / "ratings_train.txt.part").exists()


def test_download_switched_off_names_the_source(tmp_path):
    with pytest.raises(UserError, match=r"data.download is false, or the run is resumed\); put ratings_test.txt from https://"):
        ensure_file(tmp_path, "ratings_test.txt", TASKS["nsmc"], allow_download=False)


def test_a_file_of_a_custom_task_that_is_missing_is_named(tmp_path):
    with pytest.raises(UserError, match="train.csv: file not found"):
        ensure_file(tmp_path, "train.csv", None, allow_download=True)


def test_offline_cli_run_says_every_problem_at_once_with_the_way_forward(tmp_path, monkeypatch, capsys):
    """No network, no cached model, no data: one error line naming the model and both missing files, then the
    fixes (a local folder, HF_HUB_OFFLINE, --demo, the tiny-model command); nothing is written."""
    from koelectra_cookbook.commands.train import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    status = main("beginner", "", ["--task", "nsmc", "--output-dir", str(tmp_path / "runs"), "--set",
                                   f"data.dir={tmp_path / 'data'}", "--set", "data.download=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) <= 5 and sum(line.startswith("error:") for line in err) == 1
    assert err[0].startswith("error: model 'monologg/koelectra-base-v3-discriminator' is not in the local cache")
    assert "; also: " in err[0] and "ratings_train.txt: file not found" in err[0]
    assert "ratings_test.txt: file not found" in err[0]
    fixes = "\n".join(err[1:])
    assert "model.name_or_path to a local checkpoint folder" in fixes and "HF_HUB_OFFLINE=1" in fixes
    assert "--demo" in fixes and "python -m koelectra_cookbook.classifier.tiny" in fixes
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_json_row_count(tmp_path):
    (tmp_path / "a.json").write_text('[{"x": 1}, {"x": 2}]')
    (tmp_path / "b.json").write_text("[{")
    assert download_module.count_rows((tmp_path / "a.json").read_bytes(), json_array=True) == 2
    assert download_module.count_rows((tmp_path / "b.json").read_bytes(), json_array=True) == -1


@pytest.mark.parametrize("task, name, folder", [
    ("korsts", "sts-train.tsv", "korsts"), ("korsts", "sts-dev.tsv", "korsts"), ("korsts", "sts-test.tsv", "korsts"),
    ("kornli", "xnli.dev.ko.tsv", "kornli"), ("kornli", "xnli.test.ko.tsv", "kornli"),
    ("klue-nli", "klue-nli-v1.1_dev.json", "klue-nli"), ("klue-sts", "klue-sts-v1.1_dev.json", "klue-sts"),
])
def test_the_pair_tasks_real_files_pass_their_published_row_counts(tmp_path, task, name, folder):
    """The real files, served from ../shared as the task's own URL would serve them, pass the row-count check
    (KorNLI and KorSTS hold unbalanced quotes: their rows are lines, whatever a CSV reader makes of them)."""
    from conftest import SHARED_DATA

    source = SHARED_DATA / folder / name
    if not source.is_file():
        pytest.skip(f"real data not available: {source}")
    spec = TASKS[task]
    remote = next(f for f in spec.remote_files if f.name == name)
    served = dataclasses.replace(spec, remote_files=(dataclasses.replace(remote, url=source.as_uri()),))
    path = ensure_file(tmp_path, name, served, allow_download=True)
    assert path.read_bytes() == source.read_bytes()
