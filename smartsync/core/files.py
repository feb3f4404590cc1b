"""Files SmartSync writes that may hold data or secrets: created 0600, never readable by others, not even briefly."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def write_private(path: Path, data: str | bytes) -> None:
    """Write ``path`` atomically with mode 0600 (a temporary file made 0600 from the start, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # an older tmp file keeps its mode through O_CREAT
        with os.fdopen(fd, "wb") as out:
            out.write(raw)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Everything created in the block, also by child processes started in it, is private to the user."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def make_private(root: Path) -> None:
    """Take group and other access away from ``root`` and everything under it."""
    for path in [root, *root.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):
            if path.is_symlink():
                continue
            mode = path.stat().st_mode & 0o777
            path.chmod(mode & 0o700)
