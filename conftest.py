"""Settings shared by tests/ and benchmarks/: a private data cache, one torch thread per worker, seeds."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Generated task data goes to a per-session temp dir, never to the user's ~/.cache.
    os.environ["LOOPED_HRM_CACHE"] = str(tmp_path_factory.mktemp("looped_hrm_cache"))


@pytest.fixture(autouse=True)
def _one_thread_and_seed() -> None:
    # Two xdist workers on two cores thrash if each uses every core.
    torch.set_num_threads(1)
    torch.manual_seed(0)
