"""Where the tasks find data files: the reference puzzles shipped in ``data/`` and the user's own.

``data/`` holds real Sudoku and maze files the project did not generate (sources, licences and
checksums in ``data/README.md`` and ``data/SHA256SUMS``). It is package data, so a clone and a
``pip install`` both carry it and nothing has to sit beside the repository. A relative file name in
a task config is tried as given (relative to the working directory), then under the user's data
folder (``data_dir``, else ``$LOOPED_HRM_DATA``) when there is one, then under ``data/``.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "data"
DATA_ENV = "LOOPED_HRM_DATA"


def user_root(data_dir: str | None = None) -> Path | None:
    """The user's data folder: ``data_dir``, else ``$LOOPED_HRM_DATA``, else none."""
    chosen = data_dir or os.environ.get(DATA_ENV)
    return Path(chosen).expanduser() if chosen else None


def candidates(name: str | os.PathLike, data_dir: str | None = None) -> list[Path]:
    """Every place ``name`` is looked for, in order (an absolute name: itself only)."""
    direct = Path(name).expanduser()
    if direct.is_absolute():
        return [direct]
    user = user_root(data_dir)
    return [direct] + ([user / direct] if user is not None else []) + [ROOT / direct]


def find(name: str | os.PathLike, data_dir: str | None = None) -> Path | None:
    """The first existing file among `candidates`, or None."""
    return next((path for path in candidates(name, data_dir) if path.is_file()), None)
