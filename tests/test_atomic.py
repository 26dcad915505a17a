"""Files and folders appear whole or not at all (atomic.py), whatever fails half-way."""

from __future__ import annotations

import pytest

from koelectra_cookbook.files.atomic import atomic_folder, atomic_write


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary_one(tmp_path):
    target = tmp_path / "results.json"
    atomic_write(target, "old")

    class Failing(str):
        def encode(self, *args):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, Failing("new"))
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"


def test_a_folder_replaces_the_old_one_only_when_complete(tmp_path):
    final = tmp_path / "model"
    with atomic_folder(final) as building:
        (building / "a").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_folder(final) as building:
            (building / "a").write_text("2")
            raise RuntimeError("interrupted")
    assert (final / "a").read_text() == "1" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    with atomic_folder(final) as building:
        (building / "b").write_text("3")
    assert sorted(p.name for p in final.iterdir()) == ["b"] and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_shared_folder_built_twice_keeps_the_first_finished(tmp_path):
    final = tmp_path / "demo-model"
    with atomic_folder(final, replace=False, shared=True) as outer:
        with atomic_folder(final, replace=False, shared=True) as inner:
            assert outer != inner  # each builder has a folder of its own
            (inner / "built_by").write_text("inner")
        (outer / "built_by").write_text("outer")  # finishes second: the folder already there is kept
    assert (final / "built_by").read_text() == "inner"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-model"]
