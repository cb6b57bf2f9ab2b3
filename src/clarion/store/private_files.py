"""Creation of directories and files that only the server's own user may read."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create a directory and any missing parents readable by the owner only.

    Directories that already exist keep their mode: the operator chose it.
    """
    missing = []
    current = path.absolute()
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            # The mode is given at creation, so the directory is never open even for an instant.
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue


def private_file(path: Path) -> None:
    """Create an empty file readable by the owner only, unless it exists already."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
