"""Rotary position embedding (RoPE, θ = 10000), in the rotate-half form of the official code.

cos/sin tables are float32 buffers for the full (prefix + task) sequence at the training length;
the rotation runs in float32 and casts back, so bf16 attention sees the same positions as float32
attention. A sequence of another length (a model tested on longer inputs than it was trained on)
gets tables computed the same way for its own length: positions are relative in attention, so
nothing learned depends on the length, and at the training length the tables are the same buffers.

`RotaryEmbedding2D` is the axial variant for grids: half of each rotated pair of dimensions turns
with the cell's row, half with its column, so a query and a key interact through their row and
column offsets — which stay meaningful on a grid of another size, where the offset between a cell
and the cell below it in the flattened sequence does not.
"""

from __future__ import annotations

import torch
from torch import nn

Tables = tuple[torch.Tensor, torch.Tensor]


def _frequencies(dims: int, theta: float) -> torch.Tensor:
    return 1.0 / theta ** (torch.arange(0, dims, 2, dtype=torch.float32) / dims)


def _tables(angles: torch.Tensor) -> Tables:
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


class RotaryEmbedding(nn.Module):
    """``(cos, sin)`` tables of shape ``[seq_len, head_dim]``, precomputed for ``seq_len`` positions."""

    cos: torch.Tensor
    sin: torch.Tensor
    inv_freq: torch.Tensor

    def __init__(self, head_dim: int, seq_len: int, theta: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"RoPE needs an even head dimension, got {head_dim}")
        self.register_buffer("inv_freq", _frequencies(head_dim, theta), persistent=False)
        cos, sin = self._compute(seq_len)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def _compute(self, seq_len: int) -> Tables:
        positions = torch.arange(seq_len, dtype=torch.float32, device=self.inv_freq.device)
        return _tables(torch.outer(positions, self.inv_freq))

    def forward(self, seq_len: int | None = None) -> Tables:
        """The tables for ``seq_len`` positions (None: the precomputed length)."""
        if seq_len is None or seq_len == self.cos.shape[0]:
            return self.cos, self.sin
        return self._compute(seq_len)


class RotaryEmbedding2D(nn.Module):
    """Axial ``(cos, sin)`` tables for ``prefix`` positions followed by a row-major grid.

    Rotated pair ``j`` (of ``head_dim / 2``) turns with the row for ``j < head_dim / 4`` and with the
    column otherwise, each half with the frequencies of a ``head_dim / 2`` RoPE. Grid cell ``(r, c)``
    sits at ``(r + 1, c + 1)``; the prefix positions (the puzzle embedding) share ``(0, 0)``.
    """

    inv_freq: torch.Tensor

    def __init__(self, head_dim: int, prefix: int, theta: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 4:
            raise ValueError(f"2-D RoPE needs a head dimension divisible by 4, got {head_dim}")
        self.prefix = prefix
        self.register_buffer("inv_freq", _frequencies(head_dim // 2, theta), persistent=False)

    def forward(self, grid: tuple[int, int]) -> Tables:
        rows, cols = grid
        device = self.inv_freq.device
        r = torch.arange(rows, dtype=torch.float32, device=device).repeat_interleave(cols) + 1
        c = torch.arange(cols, dtype=torch.float32, device=device).repeat(rows) + 1
        zeros = torch.zeros(self.prefix, dtype=torch.float32, device=device)
        r, c = torch.cat((zeros, r)), torch.cat((zeros, c))
        return _tables(torch.cat((torch.outer(r, self.inv_freq), torch.outer(c, self.inv_freq)), dim=-1))


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` ``[B, S, heads, head_dim]`` by position; computed in float32."""
    dtype = x.dtype
    x = x.float()
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # broadcast over heads
    return (x * cos + _rotate_half(x) * sin).to(dtype)
