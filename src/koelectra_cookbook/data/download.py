"""Fetch a built-in task's files once into `data.dir`, verify them, and reuse them on every later run."""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import UserError
from .tasks import RemoteFile, TaskSpec


def ensure_file(data_dir: Path, file_name: str, spec: TaskSpec | None, allow_download: bool) -> Path:
    """Return the path of `file_name` in `data_dir`, downloading it first when the task knows where from.

    A file already present is the user's: it is used as it is (format is checked when read, size is not,
    since users bring subsets). A file we download must have the published number of rows.
    """
    path = data_dir / file_name
    if path.is_file():
        return path
    if path.exists():
        raise UserError(f"{path}: not a regular file")
    remote = next((r for r in (spec.remote_files if spec else ()) if r.name == file_name), None)
    if remote is None:
        raise UserError(f"{path}: file not found (data.dir is {str(data_dir)!r})")
    if not allow_download:
        raise UserError(f"{path}: file not found, and not downloaded (data.download is false, or the run is "
                        f"resumed); put {file_name} from {remote.url} there")
    download(remote, path)
    return path


def download(remote: RemoteFile, path: Path) -> None:
    """Download to `<name>.part` and rename only after the row count checks out, so a cut-off download
    never sits under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    print(f"downloading {remote.url} -> {path}", flush=True)
    try:
        with urllib.request.urlopen(remote.url, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot download {remote.url} ({reason}); without network, put {remote.name} in "
                        f"{path.parent} (data.dir) yourself") from None
    rows = count_rows(partial)
    if rows != remote.rows:
        partial.unlink(missing_ok=True)
        raise UserError(f"{remote.url}: expected {remote.rows} rows, got {rows}; the download was rejected")
    os.replace(partial, path)


def count_rows(path: Path) -> int:
    """Data rows in a downloaded file: JSON arrays count their items, delimited files their lines past the header."""
    if path.suffix == ".json":
        import json

        try:
            return len(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, UnicodeDecodeError):
            return -1
    with open(path, "rb") as handle:
        return max(sum(1 for line in handle if line.strip()) - 1, 0)
