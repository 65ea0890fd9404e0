"""The basic layers of the HRM/TRM family: bias-free casted linears, scaled embeddings, RMSNorm, SwiGLU.

Master weights are float32 parameters; each layer casts them to the dtype of its input (the
model's compute dtype, bfloat16 on a GPU) at every call, as the official ``CastedLinear`` does. The
optimizer therefore always updates float32 weights, and a model runs on a CPU in float32 with no
code change.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from looped_hrm.nn.flops import Flops, linear_flops
from looped_hrm.nn.init import lecun_normal_, trunc_normal_

ForwardDtype = Literal["auto", "float32", "bfloat16"]


def resolve_dtype(name: ForwardDtype, device: torch.device) -> torch.dtype:
    """The compute dtype for a config's ``forward_dtype`` on ``device``.

    ``auto`` is bfloat16 on CUDA (what the official code trains in) and float32 elsewhere (CPUs have
    slow or no bf16 matmuls, and tests want exact float32 arithmetic).
    """
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


class CastedLinear(nn.Module):
    """``y = x W^T (+ b)`` with a float32 ``W`` cast to ``x``'s dtype; truncated LeCun init, zero bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(lecun_normal_(torch.empty(out_features, in_features)))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias)

    def flops(self, tokens: int) -> Flops:
        """Forward FLOPs for ``tokens`` input rows."""
        out_features, in_features = self.weight.shape
        return linear_flops(tokens, in_features, out_features)


class CastedEmbedding(nn.Module):
    """A float32 lookup table whose rows are cast to the compute dtype; truncated-normal init."""

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(num_embeddings, embedding_dim), std=init_std))

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return F.embedding(ids, self.weight).to(dtype)


def rms_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """RMSNorm over the last axis, computed in float32, *without* a learnable scale (as HRM/TRM)."""
    dtype = x.dtype
    x = x.float()
    x = x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)
    return x.to(dtype)


def swiglu_width(hidden: int, expansion: float) -> int:
    """The official inner width: ``2/3 · expansion · hidden`` rounded, then up to a multiple of 256.

    Hidden 512 with expansion 4 gives 1536. Small widths round up a lot (hidden 64 -> 256): that is
    the official rule, kept so that every model in the suite sizes its MLPs the same way.
    """
    return math.ceil(round(expansion * hidden * 2 / 3) / 256) * 256


class SwiGLU(nn.Module):
    """``down(silu(gate(x)) * up(x))`` with one fused ``gate_up`` projection, no biases."""

    def __init__(self, hidden: int, expansion: float) -> None:
        super().__init__()
        self.inner = swiglu_width(hidden, expansion)
        self.gate_up = CastedLinear(hidden, 2 * self.inner)
        self.down = CastedLinear(self.inner, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)

    def flops(self, tokens: int) -> Flops:
        return self.gate_up.flops(tokens) + self.down.flops(tokens)
