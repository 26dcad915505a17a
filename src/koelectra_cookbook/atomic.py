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
def atomic_folder(final: Path) -> Iterator[Path]:
    """Yield an empty temporary folder to fill. When the block ends without an error, the folder replaces
    `final` (an older `final` is removed only once the new one is in place); on an error it is removed and
    `final` is left as it was."""
    final = Path(final)
    partial = final.with_name(f".{final.name}.partial")
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
        fsync_files(partial)
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(partial, final)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def fsync_files(folder: Path) -> None:
    """Flush every file under `folder` to disk, so a rename never makes an unwritten file visible."""
    for path in Path(folder).rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
