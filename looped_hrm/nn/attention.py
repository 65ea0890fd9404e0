"""Non-causal multi-head self-attention through ``scaled_dot_product_attention``.

SDPA picks flash/cuDNN kernels on a GPU and a plain kernel on a CPU, so there is no flash-attn
dependency (the official HRM's import of ``flash_attn`` is what makes it GPU-only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from looped_hrm.nn.flops import Flops
from looped_hrm.nn.layers import CastedLinear
from looped_hrm.nn.rope import apply_rope


class Attention(nn.Module):
    """MHA with one fused bias-free ``qkv`` projection; every position attends to every position."""

    def __init__(self, hidden: int, num_heads: int) -> None:
        super().__init__()
        if hidden % num_heads:
            raise ValueError(f"hidden size {hidden} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = hidden // num_heads
        self.qkv = CastedLinear(hidden, 3 * hidden)
        self.out = CastedLinear(hidden, hidden)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        batch, seq, hidden = x.shape
        q, k, v = self.qkv(x).view(batch, seq, 3, self.num_heads, self.head_dim).unbind(2)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [B, heads, S, head_dim]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=False)
        return self.out(y.transpose(1, 2).reshape(batch, seq, hidden))

    def flops(self, seq: int) -> Flops:
        """Forward FLOPs for one sequence: the projections, then QK^T and AV (4·S²·d)."""
        hidden = self.num_heads * self.head_dim
        return self.qkv.flops(seq) + self.out.flops(seq) + Flops(attention=4.0 * seq * seq * hidden)
