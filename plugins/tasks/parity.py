"""The ``parity`` task: the parity of a bit string, per prefix (``running``) or of the whole (``final``).

Tokens: PAD 0, bit 0 -> 1, bit 1 -> 2 (vocabulary 3); the parity answers use the same two ids
(even -> 1, odd -> 2), so input and output share one alphabet. Each split has its own length:
``train_length`` tokens for training (the model's ``seq_len``), ``test_length`` for testing, shorter
strings of a split padded to its length (PAD inputs, IGNORE_INDEX labels). Training on short
strings and testing on long ones (train 32, test 512) measures length extrapolation: the test
positions beyond the training length were never seen, and a model that cannot run at another
length (learned absolute positions) says so instead of being trained on padding.

``mode: running`` (the default) labels every position i with the parity of bits 0..i — the prefix
sums modulo 2 of the DeepThinking papers (Schwarzschild et al. 2021), their 1-D benchmark. It is the
setting where small models learn at all: each position is one XOR with the previous answer, while
``final`` supervises one position with a function of all bits, the classic case where
gradient-based training of transformers stalls (its difficulty is exactly what makes it an
interesting halting probe, so it is offered). In ``final`` mode the answer sits at the last bit's
position; every other position is IGNORE_INDEX.

Difficulty (``difficulty``): ``ones`` (default) = number of 1 bits, the number of times the answer
flips, which grows with the length and is what a recurrent solver has to track; ``length`` = number
of bits, the natural axis for extrapolation tables. Buckets cut the difficulty at ``bucket_edges``.
No augmentation: there is no symmetry of a bit string that keeps its parity labels unchanged.

Test strings are distinct and none is a training string (the unpadded strings: `canonical_forms`), so a
test item is never answered from memory; training strings are independent draws, kept as they are so
the training distribution is the one configured. A space too small for that (8 bits: 256 strings,
most of them drawn by 512 training strings) is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from looped_hrm import hookimpl
from looped_hrm.cache import cached_split
from looped_hrm.contracts import IGNORE_INDEX, SPLITS, Split, TaskInfo, TaskSpec

PAD, ZERO, ONE = 0, 1, 2
DATA_VERSION = 3  # bump when the same config gives other strings: cached splits are rebuilt, results rerun
# 3: each split at its own length (2 padded the train split to the test length)


@dataclass
class ParityConfig:
    mode: Literal["running", "final"] = "running"
    train_length: int = 16  # bits per training string (the maximum when train_min_length is set)
    test_length: int = 32  # bits per test string (the maximum when test_min_length is set)
    train_min_length: int | None = None  # lengths uniform in [min, train_length]; None: all train_length
    test_min_length: int | None = None  # same for the test split
    p_one: float = 0.5  # probability of a 1 bit
    difficulty: Literal["ones", "length"] = "ones"
    bucket_edges: list[int] = field(default_factory=lambda: [4, 8, 16, 32])
    num_train: int = 8192
    num_test: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        for split in SPLITS:
            top, low = getattr(self, f"{split}_length"), getattr(self, f"{split}_min_length")
            if top < 1:
                raise ValueError(f"{split}_length must be >= 1, got {top}")
            if low is not None and not 1 <= low <= top:
                raise ValueError(f"{split}_min_length must be in [1, {split}_length = {top}], got {low}")
        if not 0.0 <= self.p_one <= 1.0:
            raise ValueError(f"p_one must be in [0, 1], got {self.p_one}")
        if self.num_train < 0 or self.num_test < 0:
            raise ValueError("num_train and num_test must be >= 0")
        edges = self.bucket_edges
        if not edges or any(e <= 0 for e in edges) or any(b <= a for a, b in zip(edges, edges[1:])):
            raise ValueError(f"bucket_edges must be a non-empty increasing list of positive integers, got {edges}")


def running_parity(bits: np.ndarray) -> np.ndarray:
    """Parity (0/1) of every prefix of ``bits`` along the last axis."""
    return np.cumsum(bits, axis=-1) % 2


class ParityTask:
    """Bit strings -> running or final parity, with separate train and test lengths."""

    name = "parity"
    label_free_verify = True

    def __init__(self, config: ParityConfig):
        self.config = config
        self.info = TaskInfo(vocab_size=3, seq_len=config.train_length, num_puzzle_ids=1)
        edges = config.bucket_edges
        self.bucket_names = (f"<{edges[0]}", *(f"{a}-{b - 1}" for a, b in zip(edges, edges[1:])), f">={edges[-1]}")

    def build(self, split: str) -> Split:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r} (expected one of {', '.join(SPLITS)})")
        return cached_split("parity", self.config, split, lambda: self._make(split), version=DATA_VERSION)

    def _strings(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(lengths [n], bits [n, split length]) of a split's strings. Training strings are independent
        draws (repeats allowed); test strings are distinct and none of them is a training string:
        a draw that repeats one is replaced by a fresh draw."""
        cfg = self.config
        n = cfg.num_train if split == "train" else cfg.num_test
        top = getattr(cfg, f"{split}_length")
        low = getattr(cfg, f"{split}_min_length") or top
        rng = np.random.default_rng([cfg.seed, SPLITS.index(split)])
        positions = np.arange(top)

        def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
            lengths = rng.integers(low, top + 1, size=count)
            return lengths, (rng.random((count, top)) < cfg.p_one) & (positions < lengths[:, None])

        if split == "train":
            return draw(n)
        taken = {row[row != PAD].tobytes() for row in self.build("train").inputs.numpy()}  # the strings, unpadded
        kept_lengths: list[int] = []
        kept_bits: list[np.ndarray] = []
        for _ in range(100):
            lengths, bits = draw(n - len(kept_lengths))
            for length, row in zip(lengths, bits):
                key = (row[:length].astype(np.int64) + ZERO).tobytes()
                if key not in taken:
                    taken.add(key)
                    kept_lengths.append(int(length))
                    kept_bits.append(row)
            if len(kept_lengths) == n:
                return np.asarray(kept_lengths, dtype=np.int64), np.asarray(kept_bits, dtype=bool).reshape(
                    n, len(positions)
                )
        raise ValueError(
            f"parity: only {len(kept_lengths)} of the num_test = {n} test strings of {low}..{top} bits could be "
            f"drawn distinct and unseen in training ({cfg.num_train} training strings); use longer test "
            "strings or fewer test or training strings"
        )

    def _make(self, split: str) -> Split:
        cfg = self.config
        lengths, bits = self._strings(split)
        n = len(lengths)
        positions = np.arange(bits.shape[1])
        real = positions[None, :] < lengths[:, None]
        inputs = np.where(real, bits + ZERO, PAD)
        answers = running_parity(bits.astype(np.int64)) + ZERO
        if cfg.mode == "running":
            labels = np.where(real, answers, IGNORE_INDEX)
        else:
            labels = np.where(positions[None, :] == lengths[:, None] - 1, answers, IGNORE_INDEX)
        difficulty = bits.sum(axis=1) if cfg.difficulty == "ones" else lengths
        return Split(
            inputs=torch.as_tensor(inputs, dtype=torch.int64),
            labels=torch.as_tensor(labels, dtype=torch.int64),
            puzzle_ids=torch.zeros(n, dtype=torch.int64),
            difficulty=torch.as_tensor(difficulty, dtype=torch.float32),
            bucket=torch.as_tensor(np.searchsorted(cfg.bucket_edges, difficulty, side="right"), dtype=torch.int64),
        )

    def canonical_forms(self, split: Split) -> list[bytes]:
        """Each row's bit string without its padding (`looped_hrm.overlap`): one string is one item at
        every split length, so a test string padded to 64 tokens that is a training string padded to 16
        counts as seen (the default key, the padded tokens, would tell them apart)."""
        return [row[row != PAD].astype("<i8").tobytes() for row in split.inputs.numpy()]

    def augment(
        self, inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        return inputs, labels  # no label-preserving symmetry of a bit string

    def verify(self, prediction: np.ndarray, inputs: np.ndarray, labels: np.ndarray | None = None) -> bool:
        """The parity answers recomputed from the input bits; positions past the string are ignored."""
        x, p = np.asarray(inputs), np.asarray(prediction)
        n = int(np.count_nonzero(x != PAD))
        if not ((x[:n] == ZERO) | (x[:n] == ONE)).all() or (x[n:] != PAD).any():
            raise ValueError("a parity input must be bit tokens (1, 2) followed by PAD (0)")
        if n == 0:
            return True
        answers = running_parity(x[:n] - ZERO) + ZERO
        if self.config.mode == "running":
            return bool(np.array_equal(p[:n], answers))
        return bool(p[n - 1] == answers[-1])

    def render(self, tokens: np.ndarray) -> str:
        return "".join({PAD: ".", ZERO: "0", ONE: "1"}.get(int(t), "?") for t in tokens)


@hookimpl
def looped_hrm_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            name="parity",
            factory=ParityTask,
            config=ParityConfig,
            revision=DATA_VERSION,
            description="running or final parity of a bit string; separate train/test lengths for extrapolation",
            presets={
                "tiny": {"train_length": 8, "test_length": 16, "num_train": 512, "num_test": 128},
                "small": {"train_length": 16, "test_length": 32, "num_train": 8192, "num_test": 1024},
                # No single published parity setup exists; this is the length-extrapolation protocol:
                # train on every length up to 16, test up to 64, bucketed by length (in-distribution,
                # up to 2x, up to 4x the training length).
                "paper": {
                    "train_length": 16,
                    "train_min_length": 1,
                    "test_length": 64,
                    "test_min_length": 1,
                    "difficulty": "length",
                    "bucket_edges": [17, 33],
                    "num_train": 100_000,
                    "num_test": 10_000,
                },
            },
        )
    ]
