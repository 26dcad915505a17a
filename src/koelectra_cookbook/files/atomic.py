"""Files and folders that appear whole or not at all.

Each is written under a temporary name beside its final place, flushed to disk, then renamed over it: a
crash, a full disk or Ctrl-C at any moment leaves either the old version or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write(path: Path, content: str | bytes, encoding: str = "utf-8") -> None:
    """Write `content` to `path` through a temporary file in the same folder."""
    path = Path(path)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content.encode(encoding) if isinstance(content, str) else content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(final: Path, replace: bool = True, shared: bool = False) -> Iterator[Path]:
    """Yield an empty temporary folder to fill. When the block ends without an error, the folder takes the
    place of `final` (`finish_folder`); on an error it is removed and `final` is left as it was. `shared`: other
    processes may build the same folder at the same time, so each builds under a name of its own."""
    final = Path(final)
    if shared:
        final.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    else:
        partial = start_folder(final)
    try:
        yield partial
        finish_folder(partial, final, replace)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def start_folder(final: Path) -> Path:
    """The empty temporary folder beside `final` that `finish_folder` will rename into place."""
    partial = Path(final).with_name(f".{Path(final).name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def finish_folder(partial: Path, final: Path, replace: bool = True) -> None:
    """Flush `partial`'s files and rename it to `final`. An older `final` is removed only once the new one is in
    place; with `replace` false an existing `final` wins (another process finished the same work first)."""
    fsync_files(partial)
    final = Path(final)
    if final.exists() and not replace:
        shutil.rmtree(partial, ignore_errors=True)
        return
    old = final.with_name(f".{final.name}.old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(partial, final)
    shutil.rmtree(old, ignore_errors=True)


def fsync_files(folder: Path) -> None:
    """Flush every file under `folder` to disk, so a rename never makes an unwritten file visible."""
    for path in Path(folder).rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
