"""FLOP accounting for the compute profile (``python -m looped_hrm info``).

Counts follow docs/reference.md §6 (FLOPs per training step), rules that reproduce PyTorch's
``FlopCounterMode`` on the official code to 0.01 %: a multiply-add is 2 FLOPs; the backward pass
costs 2× the forward for matmuls and 2.5× for the attention kernel (scores and weighted values).
Elementwise work (norms, activations, RoPE) is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

MATMUL_BACKWARD = 2.0
ATTENTION_BACKWARD = 2.5


@dataclass(frozen=True)
class Flops:
    """Forward FLOPs split by kind, so that the backward multiplier can differ per kind."""

    matmul: float = 0.0
    attention: float = 0.0

    def __add__(self, other: "Flops") -> "Flops":
        return Flops(self.matmul + other.matmul, self.attention + other.attention)

    def __mul__(self, times: float) -> "Flops":
        return Flops(self.matmul * times, self.attention * times)

    __rmul__ = __mul__

    @property
    def forward(self) -> float:
        return self.matmul + self.attention

    @property
    def backward(self) -> float:
        return MATMUL_BACKWARD * self.matmul + ATTENTION_BACKWARD * self.attention


def linear_flops(tokens: int, in_features: int, out_features: int) -> Flops:
    return Flops(matmul=2.0 * tokens * in_features * out_features)
