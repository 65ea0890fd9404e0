"""Checkpoints: written atomically, read back with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors and plain data (dicts, lists, numbers, strings), so loading it never
unpickles code. It is written through `looped_hrm.atomic.atomic_write` (a temporary file in the same
folder, fsynced, renamed over the old one), so a crash or power loss mid-write leaves the previous
checkpoint intact; a run that diverges (NaN/inf loss) never writes, so the last good checkpoint
survives it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from looped_hrm.atomic import atomic_write

CHECKPOINT_NAME = "checkpoint.pt"


def checkpoint_path(workdir: str | os.PathLike) -> Path:
    return Path(workdir) / CHECKPOINT_NAME


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically and durably (`atomic_write`: temp file, fsync, rename)."""
    atomic_write(Path(path), lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (``weights_only=True``: no code is unpickled)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which file, keep the cause
        raise RuntimeError(f"{path}: cannot load checkpoint: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
