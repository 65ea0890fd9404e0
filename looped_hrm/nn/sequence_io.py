"""What every model in the suite shares around its reasoning core: the architecture config fields,
the input encoding (tokens, puzzle embedding, positions) and the output heads (tokens, Q).

Input: ``x = sqrt(hidden) · [puzzle prefix ; token embeddings]`` (with learned positions,
``sqrt(hidden) · (x + pos) / sqrt(2)``); RoPE, when chosen, is applied inside attention instead —
1-D over the sequence (``rope``) or axial over the rows and columns of a grid task (``rope_2d``,
which is the 1-D RoPE on a task whose sequences are not grids, so one model config serves both).

**Other lengths.** With RoPE or no positions nothing learned depends on the sequence length, so
the model runs on inputs of any length (a task tested on longer strings or larger grids than it was
trained on; `SequenceIO.length_problem`). Learned absolute positions exist for the training length
only: such a model refuses other lengths with one line.
Output: ``lm_head`` on every position, then the prefix dropped (the official order: the same
``lm_head`` gradient, bit for bit, as the official code's), and the Q head on position 0
(the first prefix position, or the first token when there is no prefix) giving the halt and continue
logits, initialised to weight 0 and bias −5 so that learned halting starts from "never halt"
(with a bias near 0 it collapses to ~2 steps on hard Sudoku).

**Puzzle embedding.** The official code keeps it as a zero-initialised *buffer* updated by a sparse
sign-SGD on the rows a batch touched. Here it is a dense zero-initialised ``nn.Parameter``
returned by ``puzzle_embedding_parameters()``: the engine gives it its own sign-SGD optimizer
(only rows with a nonzero gradient change) and leaves it out of the trainable-parameter count, so
counts and updates match the official ones while checkpoints and devices need no special case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from looped_hrm.contracts import TaskInfo
from looped_hrm.nn.flops import Flops
from looped_hrm.nn.layers import CastedEmbedding, CastedLinear, ForwardDtype
from looped_hrm.nn.rope import RotaryEmbedding, RotaryEmbedding2D, Tables

PositionEncoding = Literal["rope", "rope_2d", "learned", "none"]

Q_HEAD_BIAS = -5.0


@dataclass
class BackboneConfig:
    """Architecture fields every model shares (defaults: the official HRM/TRM values)."""

    hidden_size: int = 512
    num_heads: int = 8
    expansion: float = 4.0  # SwiGLU width: 2/3 · expansion · hidden, rounded up to a multiple of 256
    pos_encodings: PositionEncoding = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    puzzle_emb_ndim: int | None = None  # size of the per-puzzle vector; None = hidden_size, 0 = no puzzle embedding
    puzzle_emb_len: int | None = None  # prepended positions; None = ceil(puzzle_emb_ndim / hidden_size)
    forward_dtype: ForwardDtype = "auto"  # auto: bfloat16 on CUDA, float32 on a CPU

    def __post_init__(self) -> None:
        for name in ("hidden_size", "num_heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.expansion <= 0:
            raise ValueError(f"expansion must be > 0, got {self.expansion}")
        if self.puzzle_emb_ndim is not None and self.puzzle_emb_ndim < 0:
            raise ValueError(f"puzzle_emb_ndim must be >= 0, got {self.puzzle_emb_ndim}")
        if self.puzzle_emb_len is not None and self.puzzle_emb_len < 0:
            raise ValueError(f"puzzle_emb_len must be >= 0, got {self.puzzle_emb_len}")
        ndim = self.hidden_size if self.puzzle_emb_ndim is None else self.puzzle_emb_ndim
        if self.puzzle_emb_len is not None and ndim > self.puzzle_emb_len * self.hidden_size:
            raise ValueError(
                f"puzzle_emb_ndim {ndim} does not fit in puzzle_emb_len {self.puzzle_emb_len} "
                f"positions of hidden_size {self.hidden_size}"
            )

    @property
    def puzzle_dim(self) -> int:
        return self.hidden_size if self.puzzle_emb_ndim is None else self.puzzle_emb_ndim

    @property
    def prefix_len(self) -> int:
        """Positions prepended to the task sequence for the puzzle embedding."""
        if self.puzzle_emb_len is not None:
            return self.puzzle_emb_len
        return -(-self.puzzle_dim // self.hidden_size)


class PuzzleEmbedding(nn.Module):
    """One zero-initialised vector per puzzle id, laid out over ``prefix_len`` positions (zero-padded)."""

    def __init__(self, num_ids: int, dim: int, hidden: int, prefix_len: int) -> None:
        super().__init__()
        self.hidden, self.prefix_len = hidden, prefix_len
        self.weight = nn.Parameter(torch.zeros(num_ids, dim))

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        vectors = self.weight[ids].to(dtype)
        pad = self.prefix_len * self.hidden - vectors.shape[-1]
        if pad:
            vectors = torch.nn.functional.pad(vectors, (0, pad))
        return vectors.view(ids.shape[0], self.prefix_len, self.hidden)


class SequenceIO(nn.Module):
    """Embeddings in, token logits and Q logits out."""

    def __init__(self, config: BackboneConfig, task: TaskInfo) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.prefix_len = config.prefix_len if config.puzzle_dim > 0 else 0
        self.seq_len = task.seq_len + self.prefix_len  # positions the reasoning core sees
        self.task_seq_len = task.seq_len
        self.scale = math.sqrt(hidden)
        self.tokens = CastedEmbedding(task.vocab_size, hidden, init_std=1.0 / self.scale)
        self.puzzle = (
            PuzzleEmbedding(task.num_puzzle_ids, config.puzzle_dim, hidden, self.prefix_len)
            if self.prefix_len
            else None
        )
        self.positions = (
            CastedEmbedding(self.seq_len, hidden, init_std=1.0 / self.scale)
            if config.pos_encodings == "learned"
            else None
        )
        axial = config.pos_encodings == "rope_2d" and task.grid is not None  # rope_2d on a 1-D task: 1-D RoPE
        self.rotary = (
            RotaryEmbedding(hidden // config.num_heads, self.seq_len, config.rope_theta)
            if config.pos_encodings in ("rope", "rope_2d") and not axial
            else None
        )
        self.rotary_2d = (
            RotaryEmbedding2D(hidden // config.num_heads, self.prefix_len, config.rope_theta) if axial else None
        )
        self.task = task
        self.lm_head = CastedLinear(hidden, task.vocab_size)
        self.q_head = CastedLinear(hidden, 2, bias=True)
        assert self.q_head.bias is not None  # built with one
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(Q_HEAD_BIAS)

    def embed(self, inputs: torch.Tensor, puzzle_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``[B, L]`` tokens -> ``[B, prefix + L, hidden]`` scaled input embedding."""
        problem = self.length_problem(inputs.shape[1])
        if problem:
            raise ValueError(problem)
        x = self.tokens(inputs, dtype)
        if self.puzzle is not None:
            x = torch.cat((self.puzzle(puzzle_ids, dtype), x), dim=1)
        if self.positions is not None:
            x = 0.707106781 * (x + self.positions.weight.to(dtype))  # 1/sqrt(2) keeps the variance
        return self.scale * x

    def length_problem(self, length: int) -> str | None:
        """Why sequences of ``length`` task tokens cannot be run (None: they can)."""
        if length == self.task_seq_len:
            return None
        if self.positions is not None:
            return (
                f"learned absolute positions exist for the training length ({self.task_seq_len} tokens) only, "
                f"not {length} (pos_encodings rope, rope_2d or none run at any length)"
            )
        if self.rotary_2d is not None:
            try:
                self.task.grid_at(length)
            except ValueError as exc:
                return str(exc)
        return None

    def positions_for(self, length: int) -> int:
        """Positions the reasoning core sees for ``length`` task tokens (the puzzle prefix included)."""
        return self.prefix_len + length

    def rope(self, length: int | None = None) -> Tables | None:
        """RoPE tables for ``length`` task tokens (None: the training length)."""
        if self.rotary is not None:
            return self.rotary(None if length is None else self.positions_for(length))
        if self.rotary_2d is not None:
            grid = self.task.grid_at(self.task_seq_len if length is None else length)
            assert grid is not None
            return self.rotary_2d(grid)
        return None

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Token logits ``[B, L, V]`` (float32) from a state ``[B, prefix + L, hidden]``."""
        return self.lm_head(z)[:, self.prefix_len :].float()

    def q_logits(self, feature: torch.Tensor) -> torch.Tensor:
        """``[..., 2]`` float32 (halt, continue) logits from position-0 features ``[..., hidden]``."""
        return self.q_head(feature).float()

    def head_flops(self, length: int | None = None) -> Flops:
        """Forward FLOPs of the output heads for one sequence of ``length`` task tokens (None: training;
        ``lm_head`` runs on the prefix too)."""
        positions = self.positions_for(self.task_seq_len if length is None else length)
        return self.lm_head.flops(positions) + self.q_head.flops(1)

    def puzzle_parameters(self) -> list[nn.Parameter]:
        return [self.puzzle.weight] if self.puzzle is not None else []
