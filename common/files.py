"""Files that hold secrets or data: readable by their owner only.

The data directory (SQLite files, the development key-encryption key, the
bootstrap credentials) is mode 0700 and what the processes create in it 0600,
from the first byte, whatever the umask says.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def private_directory(path: Path) -> Path:
    """Make ``path`` (and missing parents) and restrict it to its owner. A
    directory someone else owns is left as it is (chmod would fail)."""
    path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    _restrict(path, DIRECTORY_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist, and restrict
    an existing one; its directory is made private too. SQLite gives its -wal
    and -shm files the mode of the database file."""
    private_directory(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    _restrict(path, FILE_MODE)
    return path


def _restrict(path: Path, mode: int) -> None:
    stat = path.stat()
    if stat.st_uid == os.getuid() and stat.st_mode & 0o777 != mode:
        os.chmod(path, mode)
