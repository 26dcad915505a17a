"""Files and folders that appear whole or not at all.

Each is written under a temporary name beside its final place, flushed to disk, then renamed over it: a
crash, a full disk or Ctrl-C at any moment leaves either the old version or the new one, never half of one.

They get the permissions the umask gives (0644 under the usual 022), as `open()` would give them: the temporary
files that `tempfile.mkstemp` and `tempfile.mkdtemp` make are private (0600, 0700) whatever the umask, and a
model only its owner can read is no use to a serving account, a teammate or a shared folder. The mode is set on
the temporary file or folder before the rename, so the final one never appears with another.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

FILE_MODE = 0o666  # what open() asks for a new file: the umask then takes its bits away
FOLDER_MODE = 0o777  # what mkdir() asks for


def atomic_write(path: Path, content: str | bytes, encoding: str = "utf-8") -> None:
    """Write `content` to `path` through a temporary file in the same folder."""
    path = Path(path)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        set_mode(descriptor, FILE_MODE & ~current_umask())
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
    processes may build the same folder at the same time, so each builds under a name of its own (made private
    by mkdtemp: `finish_folder` gives it the umask's mode)."""
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
    place; with `replace` false an existing `final` wins (another process finished the same work first). Its
    files and folders get the umask's modes first: libraries write some private (safetensors' model.safetensors
    is 0600 whatever the umask)."""
    umask_modes(partial)
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


def current_umask() -> int:
    """The process's umask. There is no call that only reads it: os.umask sets a new one and returns the old, so
    Linux's /proc/self/status is read first, which changes nothing. Where it is missing the umask is swapped and
    put back at once; a file another thread creates in that instant gets 077, a stricter mode, never a looser one."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old


def set_mode(descriptor: int, mode: int) -> None:
    """Give the open file or folder `descriptor` this mode: through the descriptor, never a name, so a symbolic
    link is never followed to another file. A file system without Unix modes (FAT, some network shares) and
    Windows keep what they have."""
    if not hasattr(os, "fchmod"):  # Windows before Python 3.13: no modes to speak of
        return
    try:
        if stat.S_IMODE(os.fstat(descriptor).st_mode) != mode:
            os.fchmod(descriptor, mode)
    except OSError:
        pass


def umask_modes(folder: Path) -> None:
    """Give `folder`, its folders and its regular files the modes the umask gives (0755 and 0644 under 022).
    Symbolic links, and whatever they point to, are left alone (nothing is opened through one), and so are files
    with other names (hard links)."""
    if not hasattr(os, "fchmod") or not hasattr(os, "O_NOFOLLOW"):
        return
    folder = Path(folder)
    umask = current_umask()
    for path in [folder, *folder.rglob("*")]:
        try:
            kind = os.lstat(path).st_mode
            if not (stat.S_ISDIR(kind) or stat.S_ISREG(kind)):
                continue
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | (os.O_DIRECTORY if stat.S_ISDIR(kind) else 0)
            descriptor = os.open(path, flags)
        except OSError:  # gone, or swapped for a link since: not ours to change
            continue
        try:
            found = os.fstat(descriptor)
            if stat.S_ISDIR(found.st_mode):
                set_mode(descriptor, FOLDER_MODE & ~umask)
            elif stat.S_ISREG(found.st_mode) and found.st_nlink == 1:  # a hard link's mode is another name's too
                set_mode(descriptor, FILE_MODE & ~umask)
        finally:
            os.close(descriptor)
