"""What the project writes gets the permissions the umask gives, as open() and mkdir() would give them: a run's
files and its model are readable by a serving account or a teammate under the usual umask 022 (issue 23).
tempfile.mkstemp and mkdtemp, which the atomic writers use, and safetensors make theirs private (0600, 0700)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from helpers import run_cli
from koelectra_cookbook.commands.predict import main as predict_main
from koelectra_cookbook.files.atomic import atomic_folder, atomic_write, current_umask
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="Unix permissions")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def umask():
    """Set the process's umask for one test; the one before is put back however the test ends."""
    before = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(before)


@pytest.mark.parametrize("value", [0o022, 0o077, 0o002])
def test_current_umask_reads_without_changing_it(umask, value):
    umask(value)
    assert current_umask() == value
    assert os.umask(value) == value  # still the one set


@pytest.mark.parametrize("value, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_write_gives_the_umask_mode(umask, tmp_path, value, expected):
    umask(value)
    atomic_write(tmp_path / "results.json", "{}")
    atomic_write(tmp_path / "plot.png", b"\x89PNG")
    assert mode(tmp_path / "results.json") == expected and mode(tmp_path / "plot.png") == expected
    atomic_write(tmp_path / "results.json", "{} ")  # over an existing file too
    assert mode(tmp_path / "results.json") == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png", "results.json"]


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("value", [0o022, 0o077])
def test_a_folder_and_the_private_files_a_library_put_in_it_get_the_umask_modes(umask, tmp_path, shared, value):
    """A shared folder is built in a mkdtemp folder (0700); safetensors writes model.safetensors 0600."""
    from safetensors.numpy import save_file
    import numpy as np

    umask(value)
    outside = tmp_path / "secret"
    outside.write_text("private")
    outside.chmod(0o600)
    with atomic_folder(tmp_path / "model", shared=shared) as building:
        save_file({"w": np.zeros(2, dtype=np.float32)}, str(building / "model.safetensors"))
        (building / "sub").mkdir()
        (building / "sub" / "config.json").write_text("{}")
        os.chmod(building / "sub" / "config.json", 0o600)
        (building / "link").symlink_to(outside)
        os.link(outside, building / "hard")
    final = tmp_path / "model"
    assert mode(final) == mode(final / "sub") == 0o777 & ~value
    assert mode(final / "model.safetensors") == mode(final / "sub" / "config.json") == 0o666 & ~value
    assert mode(outside) == 0o600  # neither through the symbolic link nor through the hard link


def test_a_run_and_its_model_are_readable_by_others_under_umask_022(umask, tmp_path, tiny_model_dir):
    umask(0o022)
    status, run = run_cli(BeginnerTrainer, "--task", "nsmc", "--output-dir", str(tmp_path / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={tmp_path / 'cache'}",
                          "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.max_steps=2",
                          "--set", "train.batch_size=16", "--set", "data.max_eval_samples=16")
    assert status == 0
    files = ["results.json", "predictions.csv", "config.yaml", "run.json", "metrics.csv", "model/model.safetensors",
             "model/config.json", *(p.relative_to(run) for p in (run / "plots").glob("*.png"))]
    assert any(str(name).startswith("plots") for name in files)
    assert {str(name): oct(mode(run / name)) for name in files} == {str(name): oct(0o644) for name in files}
    for folder in (run, run / "model", run / "plots"):
        assert mode(folder) == 0o755, folder
    assert all(mode(path) == 0o644 for path in (run / "model").iterdir())
    assert all(mode(path) == 0o644 for path in (tmp_path / "cache").iterdir())  # the token cache too

    (tmp_path / "in.txt").write_text("정말 재밌는 영화였다\n돈 아깝다\n", encoding="utf-8")
    assert predict_main(["--model", str(run / "model"), "--input", str(tmp_path / "in.txt"),
                         "--output", str(tmp_path / "out.csv")]) == 0
    assert mode(tmp_path / "out.csv") == 0o644
