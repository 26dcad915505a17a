"""What a fresh clone ships must run from it: every config file (its --demo finds every file it names, and without
the data it says so in one line), and every script and config file the README and the docs name exists."""

from __future__ import annotations

import re

import pytest
import yaml

from koelectra_cookbook.commands.arguments import parse_args
from koelectra_cookbook.config.resolve import resolve_config
from koelectra_cookbook.config.tasks import task_spec
from koelectra_cookbook.data.preflight import check_inputs
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.paths import CONFIG_DIR, PROJECT_ROOT

CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
DOCS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("path", CONFIGS, ids=[path.name for path in CONFIGS])
def test_every_shipped_config_runs_its_demo_from_the_clone(path, monkeypatch):
    """As the docs run it (`python train_expert.py --config config/X.yaml --demo`, from the clone's root): the
    config resolves and every file it names is there, the model included (the sweep's tiny model is replaced by
    the demo's, as --demo does)."""
    monkeypatch.chdir(PROJECT_ROOT)
    config = resolve_config(parse_args("doc", ["--config", f"config/{path.name}", "--demo"], resumable=True))
    check_inputs(config, writes=False, evaluation=not is_pretraining(path))  # raises naming every missing file


def is_pretraining(path) -> bool:
    """A config of pretrain.py (a `pretrain:` section): it reads no evaluation file."""
    return "pretrain" in yaml.safe_load(path.read_text(encoding="utf-8"))


def downloads_its_files(path) -> bool:
    spec = task_spec(yaml.safe_load(path.read_text(encoding="utf-8"))["task"])
    return bool(spec and spec.remote_files)


@pytest.mark.parametrize("path", [p for p in CONFIGS if not downloads_its_files(p)], ids=lambda path: path.name)
def test_a_shipped_config_without_its_data_says_so_in_one_short_line(path, tmp_path, monkeypatch, tiny_model_dir):
    """A config of files the project cannot download (petitions, your own dataset), run where its data.dir is
    not: one line naming the folder, not an error per file."""
    monkeypatch.chdir(tmp_path)
    config = resolve_config(parse_args("doc", ["--config", str(path), "--set", f"model.name_or_path={tiny_model_dir}"],
                                       resumable=True))
    with pytest.raises(UserError) as problem:
        check_inputs(config, writes=True, evaluation=not is_pretraining(path))
    message = str(problem.value)
    assert "\n" not in message and len(message) < 400 and message.count("is not a folder") == 1, message
    assert "is not a folder" in message and str(tmp_path) in message


def test_every_script_and_config_file_the_docs_name_exists():
    missing = []
    for page in DOCS:
        text = page.read_text(encoding="utf-8")
        for name in set(re.findall(r"python ([\w-]+\.py)\b", text)):
            if not (PROJECT_ROOT / name).is_file():
                missing.append(f"{page.relative_to(PROJECT_ROOT)}: {name}")
        for name in set(re.findall(r"(?<![\w/.-])config/([\w.-]+\.yaml)", text)) - {"NAME.yaml"}:
            if not (CONFIG_DIR / name).is_file():
                missing.append(f"{page.relative_to(PROJECT_ROOT)}: config/{name}")
    assert not missing, missing


def test_the_readme_layout_names_every_shipped_config():
    layout = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1].split("```")[1]
    for path in CONFIGS:
        assert path.stem in layout, path.name
