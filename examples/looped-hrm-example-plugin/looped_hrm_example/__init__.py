"""The `reverse` task: read a sequence of digits, write it backwards.

A minimal but complete looped_hrm task plugin: a config dataclass with presets, deterministic
splits, a rule-based verifier and a renderer, announced through the `looped_hrm_tasks` hook.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from looped_hrm import hookimpl
from looped_hrm.contracts import IGNORE_INDEX, Split, TaskInfo, TaskSpec

PAD = 0
DIGIT0 = 1  # digit d is token d + 1


@dataclass
class ReverseConfig:
    length: int = 8  # digits per sequence
    digits: int = 10  # alphabet size
    num_train: int = 512
    num_test: int = 256
    seed: int = 0


class ReverseTask:
    """Input: digits then PAD; label: the same digits reversed. Difficulty: distinct digits used."""

    name = "reverse"
    bucket_names = ("few_distinct", "many_distinct")
    label_free_verify = True

    def __init__(self, config: ReverseConfig):
        self.config = config
        self.info = TaskInfo(vocab_size=config.digits + 1, seq_len=config.length, num_puzzle_ids=1)

    def build(self, split: str) -> Split:
        if split not in ("train", "test"):
            raise ValueError(f"unknown split {split!r} (expected 'train' or 'test')")
        cfg = self.config
        n = cfg.num_train if split == "train" else cfg.num_test
        rng = np.random.default_rng([cfg.seed, 0 if split == "train" else 1])
        digits = rng.integers(0, cfg.digits, size=(n, cfg.length))
        inputs = digits + DIGIT0
        labels = inputs[:, ::-1].copy()
        distinct = np.array([len(set(row)) for row in digits], dtype=np.float32)
        return Split(
            inputs=torch.as_tensor(inputs, dtype=torch.int64),
            labels=torch.as_tensor(labels, dtype=torch.int64),
            puzzle_ids=torch.zeros(n, dtype=torch.int64),
            difficulty=torch.as_tensor(distinct),
            bucket=torch.as_tensor(distinct > cfg.length / 2, dtype=torch.int64),
        )

    def augment(
        self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return inputs, labels  # no symmetry worth exploiting

    def verify(self, prediction: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
        scored = labels != IGNORE_INDEX if labels is not None else np.ones_like(inputs, dtype=bool)
        return bool(np.array_equal(np.asarray(prediction)[scored], np.asarray(inputs)[::-1][scored]))

    def render(self, tokens: np.ndarray) -> str:
        return "".join(str(int(t) - DIGIT0) if t != PAD else "." for t in tokens)


@hookimpl
def looped_hrm_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            name="reverse",
            factory=ReverseTask,
            config=ReverseConfig,
            description="write a digit sequence backwards (example third-party plugin)",
            presets={
                "tiny": {"length": 6, "num_train": 256, "num_test": 128},
                "small": {"length": 8},
                "paper": {"length": 16, "num_train": 10000, "num_test": 1000},
            },
        )
    ]
