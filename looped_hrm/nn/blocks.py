"""The post-norm transformer block and the reasoning module (a stack of blocks with input injection).

Every model in the suite is a different *schedule* of these two modules, so a difference between
models in a results table is a difference in architecture, not in implementation.
"""

from __future__ import annotations

from typing import Literal, cast

import torch
from torch import nn

from looped_hrm.nn.attention import Attention
from looped_hrm.nn.flops import Flops
from looped_hrm.nn.layers import SwiGLU, rms_norm

Mixer = Literal["attention", "mlp"]
Rope = tuple[torch.Tensor, torch.Tensor] | None


class Block(nn.Module):
    """Post-norm block: ``x = norm(x + mix(x)); x = norm(x + mlp(x))``, no biases, no learnable norm scale.

    ``mixer="attention"``: non-causal self-attention (HRM, TRM-Att). ``mixer="mlp"``: TRM-MLP's token
    mixing — a SwiGLU applied along the *sequence* axis (so it needs a fixed ``seq_len``, fine for
    Sudoku grids). As in the official TRM, the norm after the token-mixing residual runs over the
    sequence axis too (the tensor is still transposed at that point).
    """

    def __init__(
        self,
        hidden: int,
        num_heads: int,
        expansion: float,
        eps: float = 1e-5,
        mixer: Mixer = "attention",
        seq_len: int | None = None,
    ) -> None:
        super().__init__()
        self.eps = eps
        self.attn = Attention(hidden, num_heads) if mixer == "attention" else None
        if mixer == "mlp":
            if seq_len is None:
                raise ValueError("the token-mixing MLP needs the (fixed) sequence length")
            self.token_mlp: SwiGLU | None = SwiGLU(seq_len, expansion)
        else:
            self.token_mlp = None
        self.mlp = SwiGLU(hidden, expansion)

    def forward(self, x: torch.Tensor, rope: Rope = None) -> torch.Tensor:
        if self.token_mlp is not None:
            xt = x.transpose(1, 2)  # [B, D, S]: mix along the sequence
            x = rms_norm(xt + self.token_mlp(xt), self.eps).transpose(1, 2)
        else:
            assert self.attn is not None  # one mixer or the other
            x = rms_norm(x + self.attn(x, rope), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)

    def flops(self, seq: int) -> Flops:
        """Forward FLOPs for one sequence of ``seq`` positions."""
        hidden = self.mlp.gate_up.weight.shape[1]
        if self.token_mlp is not None:
            mix = self.token_mlp.flops(hidden)
        else:
            assert self.attn is not None  # one mixer or the other
            mix = self.attn.flops(seq)
        return mix + self.mlp.flops(seq)


class ReasoningModule(nn.Module):
    """A stack of blocks that first adds its input injection: ``z = blocks(z + injection)`` (None: no injection)."""

    def __init__(self, blocks: list[Block]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, z: torch.Tensor, injection: torch.Tensor | None, rope: Rope = None) -> torch.Tensor:
        if injection is not None:
            z = z + injection
        for block in self.blocks:
            z = block(z, rope)
        return z

    def flops(self, seq: int) -> Flops:
        total = Flops()
        for block in self.blocks:
            total = total + cast(Block, block).flops(seq)
        return total

    def __len__(self) -> int:
        return len(self.blocks)
