"""On-disk cache of generated task data, keyed by a hash of the task's config.

Generating 10k hard Sudokus or 30×30 mazes takes seconds to minutes; every run of the same config
reuses the arrays. The cache lives in ``$LOOPED_HRM_CACHE`` (default ``~/.cache/looped_hrm``); files
are written atomically, so parallel workers never read half a file.
"""

from __future__ import annotations

import hashlib
import os
import sys
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from looped_hrm.atomic import atomic_write
from looped_hrm.config import config_hash
from looped_hrm.contracts import Split


def cache_dir() -> Path:
    return Path(os.environ.get("LOOPED_HRM_CACHE") or Path.home() / ".cache" / "looped_hrm")


def cached_split(task: str, config: Any, split: str, build: Callable[[], Split], version: int = 1) -> Split:
    """``build()`` once per (task, config, split, version); later calls load the saved arrays.

    Bump ``version`` when the generator changes so stale data is not reused.
    """
    path = cache_dir() / task / f"{split}-v{version}-{config_hash(config, split, version)}.npz"
    if path.exists():
        try:
            with np.load(path) as arrays:
                return Split.from_arrays(arrays)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # truncated, corrupt
            print(
                f"looped_hrm: warning: {path}: unreadable cached split ({type(exc).__name__}: {exc}); rebuilding it",
                file=sys.stderr,
            )
            path.unlink(missing_ok=True)
    data = build()
    atomic_write(path, lambda f: np.savez(f, **data.to_arrays()))  # type: ignore[arg-type]  # numpy stubs: allow_pickle
    return data


def split_fingerprint(split: Split) -> str:
    """A content hash of a split's arrays (names, dtypes, shapes and bytes): the data a result was
    actually trained or evaluated on, whatever file, generator or cache it came from."""
    digest = hashlib.sha256()
    for name, array in split.to_arrays().items():
        array = np.ascontiguousarray(array)
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.view(np.uint8).reshape(-1).data)  # the bytes, without a copy
    return digest.hexdigest()[:16]
