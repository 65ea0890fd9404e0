"""Checkpoints: written atomically, read back with ``torch.load(weights_only=True)``.

A checkpoint holds only tensors and plain data (dicts, lists, numbers, strings), so loading it never
unpickles code. It is written to a temporary file in the same folder and renamed over the old one,
so a crash mid-write leaves the previous checkpoint intact; a run that diverges (NaN/inf loss) never
writes, so the last good checkpoint survives it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_NAME = "checkpoint.pt"


def checkpoint_path(workdir: str | os.PathLike) -> Path:
    return Path(workdir) / CHECKPOINT_NAME


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (``weights_only=True``: no code is unpickled)."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which file, keep the cause
        raise RuntimeError(f"{path}: cannot load checkpoint: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
