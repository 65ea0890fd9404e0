"""Fixtures for the model tests: build a registered model by name, and small random batches."""

from __future__ import annotations

from typing import Any, Callable

import pytest
import torch

from looped_hrm.config import plugin_config
from looped_hrm.contracts import Batch, TaskInfo
from looped_hrm.registry import get_registry

TINY_TASK = TaskInfo(vocab_size=11, seq_len=16, num_puzzle_ids=3)
SUDOKU = TaskInfo(vocab_size=11, seq_len=81, num_puzzle_ids=1)  # the official Sudoku-Extreme shapes


def build(
    name: str, preset: str | None = "tiny", task: TaskInfo = TINY_TASK, seed: int = 0, **overrides: Any
) -> torch.nn.Module:
    """The model plugin ``name`` found through the registry (entry points), built for ``task``."""
    spec = get_registry().get("model", name)
    torch.manual_seed(seed)
    return spec.factory(plugin_config(spec, preset, overrides), task)


def random_batch(n: int = 4, task: TaskInfo = TINY_TASK, seed: int = 1, device: str = "cpu") -> Batch:
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, task.vocab_size, (n, task.seq_len), generator=g)
    labels = torch.randint(0, task.vocab_size, (n, task.seq_len), generator=g)
    ids = torch.randint(0, task.num_puzzle_ids, (n,), generator=g)
    return Batch(inputs.to(device), labels.to(device), ids.to(device))


@pytest.fixture
def build_model() -> Callable[..., torch.nn.Module]:
    return build


@pytest.fixture
def make_batch() -> Callable[..., Batch]:
    return random_batch


@pytest.fixture
def tiny_task() -> TaskInfo:
    return TINY_TASK


@pytest.fixture
def sudoku_task() -> TaskInfo:
    return SUDOKU


def _saved_bytes(model, batch: Batch) -> int:
    """Bytes autograd saves for backward during one segment (activation memory, measured on CPU)."""
    size = 0

    def pack(t):
        nonlocal size
        size += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.segment(model.initial_carry(batch), batch)
    return size


@pytest.fixture
def saved_bytes() -> Callable[..., int]:
    return _saved_bytes
