"""Checkpoints: written atomically, read back with ``torch.load(weights_only=True)`` and checked.

A checkpoint holds only tensors and plain data (dicts, lists, numbers, strings), so loading it never
unpickles code. It is written through `looped_hrm.atomic.atomic_write` (a temporary file in the same
folder, fsynced, renamed over the old one), so a crash or power loss mid-write leaves the previous
checkpoint intact; a run that diverges (NaN/inf loss) never writes, so the last good checkpoint
survives it.

A run's checkpoint names the run (``key``: the combination's key, `looped_hrm.resolve.Combination`),
and `load_run_checkpoint` is the one reader of it — for resuming, `eval`, `trace` and `analyze` —
so no command ever continues or scores weights that are not the run's: a file that is missing,
empty, truncated, another run's, trained with another config or shaped for another model is refused
in one line naming the file and what is wrong with it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO, Mapping, cast

import torch

from looped_hrm.atomic import atomic_write
from looped_hrm.config import ConfigError
from looped_hrm.training.config import RESUMABLE_FIELDS

CHECKPOINT_NAME = "checkpoint.pt"
FIELDS = ("model", "step", "config")
"""What every checkpoint of `looped_hrm.training.trainer.Trainer` holds (whatever its version)."""


def checkpoint_path(workdir: str | os.PathLike) -> Path:
    return Path(workdir) / CHECKPOINT_NAME


class _Writes:
    """A file that remembers the OSError of a failed write: torch's zip writer replaces it by
    ``[enforce fail at inline_container.cc] unexpected pos`` and the cause (a full disk) is lost."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.file.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.file.flush()


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically and durably (`atomic_write`: temp file, fsync, rename);
    a full disk is an OSError naming ``path`` (`looped_hrm.commands.main` prints it in one line)."""

    def write(file: BinaryIO) -> None:
        out = _Writes(file)
        try:
            torch.save(state, cast(BinaryIO, out))
        except RuntimeError:
            if out.error is not None:
                raise out.error from None
            raise

    atomic_write(Path(path), write)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (``weights_only=True``: no code is unpickled)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which file, keep the cause
        cause = str(exc).splitlines()[0] if str(exc) else "empty or truncated file"
        raise RuntimeError(f"{path}: cannot load checkpoint: {type(exc).__name__}: {cause}") from exc


def load_run_checkpoint(
    path: str | os.PathLike,
    model: Any,  # a torch.nn.Module (a ReasoningModel)
    *,
    key: str | None,
    train_config: Mapping[str, Any],
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load the checkpoint of run ``key`` at ``path`` into ``model`` and return the whole state.

    `ConfigError` (one line: the file, then what is wrong) when the file is missing, empty, not
    readable by torch (truncated, another format), not one of our checkpoints, written by another
    run (its ``key``; ``key=None`` skips the check), trained with another ``train_config`` (the
    budgets and logging fields, `RESUMABLE_FIELDS`, may differ: a raised step budget) or shaped for
    another model.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: missing (the run has not saved a checkpoint yet, or it was deleted)")
    if path.stat().st_size == 0:
        raise ConfigError(f"{path}: empty file (a copy or a disk that failed mid-write?)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a broken file
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: cannot be read (truncated, or not a checkpoint): {cause}") from None
    if not isinstance(state, dict) or not all(field in state for field in FIELDS):
        raise ConfigError(
            f"{path}: not a looped_hrm checkpoint (no {'/'.join(FIELDS)}; a checkpoint of the official "
            "HRM/TRM code is given to `eval CHECKPOINT --task T --model M` or `train --init-from`)"
        )
    if key is not None and state.get("key") not in (None, key):
        raise ConfigError(f"{path}: written by another run (key {state['key']}), not by run {key}")
    saved = state["config"] if isinstance(state["config"], dict) else {}
    changed = sorted(k for k in train_config if k not in RESUMABLE_FIELDS and saved.get(k) != train_config[k])
    if changed:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {train_config[k]!r}" for k in changed)
        raise ConfigError(f"{path}: trained with another config ({detail})")
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        name = type(model).__name__
        raise ConfigError(f"{path}: does not fit model {name}: {' '.join(str(exc).split())[:300]}") from None
    return state
