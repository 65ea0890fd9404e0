"""The guards every command shares, so that no command grows its own: bounds on the values a command
takes (checked before any work starts) and the lock on the folder it writes.

The rest of the guards live where every command passes through them: `looped_hrm.commands.main`
turns a bad value into one ``error:`` line (exit 2), an OSError into one line naming its path
(exit 1) and Ctrl-C into one line saying what was kept (exit 130); `looped_hrm.runner.lock` holds
an output folder for one command at a time; `looped_hrm.training.checkpoint.load_run_checkpoint`
refuses weights that are not the run's; `looped_hrm.report.records` validates every record read.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from looped_hrm.config import ConfigError
from looped_hrm.runner.lock import FolderLock


def bounded(option: str, value: int | None, low: int, high: int, what: str = "") -> int | None:
    """``value`` if it lies in ``[low, high]`` (None stays None), else a `ConfigError` naming ``option``."""
    if value is not None and not low <= value <= high:
        raise ConfigError(f"{option} {value}: expected {what or 'a value'} from {low} to {high}")
    return value


@contextmanager
def holding(folder: str | Path, option: str, dist: Any = None) -> Iterator[None]:
    """Hold ``folder`` (created if needed) for this command: `FolderLock` on the main rank; under
    ``torchrun`` every rank learns whether it got it, so all stop together when another command has it."""
    if dist is None or not dist.active:
        with FolderLock(folder, option):
            yield
        return
    lock, refused = FolderLock(folder, option), None
    if dist.is_main:
        try:
            lock.__enter__()
        except ConfigError as exc:
            refused = str(exc)
    refused = dist.all_gather_object(refused)[0]
    if refused is not None:
        raise ConfigError(refused)
    try:
        yield
    finally:
        if dist.is_main:
            lock.__exit__(None, None, None)
