"""One command per results folder at a time.

Two commands writing the same ``--out`` would train the same combination twice in the same work
folder (every training log line twice, checkpoints overwritten under each other). `FolderLock` takes
an exclusive ``flock`` on ``<out>/.lock`` for the life of the command; the kernel releases it when
the process ends, however it ends (``kill -9`` included), so a stale lock never blocks a rerun.
The lock creates the folder, so a path that cannot be one (a file, /proc, a read-only place) is
refused in the same one line before anything is written.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from looped_hrm.config import ConfigError

LOCK_NAME = ".lock"


class FolderLock:
    """``with FolderLock(out_dir):`` — or `ConfigError` naming ``option`` and the folder: it cannot be
    created, or another command (its PID) holds it."""

    def __init__(self, folder: str | Path, option: str = "--out"):
        self.folder = Path(folder)
        self.option = option
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"{self.option} {self.folder}: exists and is not a folder")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"{self.option} {self.folder}: cannot create the folder there ({exc.strerror or exc})"
            ) from None
        path = self.folder / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"{self.option} {self.folder}: cannot write there ({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"{self.option} {self.folder}: in use by another looped_hrm command (PID {holder}); "
                "wait for it to finish or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
