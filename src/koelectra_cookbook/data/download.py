"""Fetch a built-in task's files once into `data.dir`, verify them, and reuse them on every later run."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.config.tasks import RemoteFile, TaskSpec


def ensure_file(data_dir: Path, file_name: str, spec: TaskSpec | None, allow_download: bool) -> Path:
    """Return the path of `file_name` in `data_dir`, downloading it first when the task knows where from.

    A file already present is the user's: it is used as it is (format is checked when read, size is not,
    since users bring subsets). A file we download must have the published number of rows.
    """
    path = data_dir / file_name
    if path.is_file():
        if path.stat().st_size == 0:  # also what /proc files report: refused here as the reader would
            raise UserError(f"{path}: file is empty")
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
    """Download into memory and write the file (whole or not at all) only after the row count checks out, so a
    cut-off download never sits under the final name."""
    print(f"downloading {remote.url} -> {path}", flush=True)
    try:
        with urllib.request.urlopen(remote.url, timeout=60) as response:
            content = response.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UserError(f"cannot download {remote.url} ({reason}); without network, put {remote.name} in "
                        f"{path.parent} (data.dir) yourself") from None
    rows = count_rows(content, json_array=path.suffix == ".json")
    if rows != remote.rows:
        raise UserError(f"{remote.url}: expected {remote.rows} rows, got {rows}; the download was rejected")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, content)


def count_rows(content: bytes, json_array: bool) -> int:
    """Data rows of a downloaded file: a JSON array counts its items, a delimited file its lines past the header."""
    if json_array:
        try:
            return len(json.loads(content.decode("utf-8")))
        except (ValueError, UnicodeDecodeError):
            return -1
    return max(sum(1 for line in content.split(b"\n") if line.strip()) - 1, 0)
