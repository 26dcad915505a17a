"""The one SHA-256 of a file's bytes: checkpoint manifests and the int8 cache check their files with it."""

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of the file at `path`, read in blocks (a checkpoint's weights may be gigabytes)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
