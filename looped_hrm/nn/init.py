"""Weight initialisation shared by every model: truncated-normal with the *target* standard deviation.

The official HRM/TRM code initialises every linear layer and embedding with a JAX-style truncated
normal: samples beyond two standard deviations are cut off and the scale is corrected so that the
truncated distribution still has the requested std. ``torch.nn.init.trunc_normal_`` truncates but
does not correct, so a plain call would give weights ~12% too small. With LeCun scaling
(std = 1/sqrt(fan_in)) this keeps the forward variance of the bias-free post-norm stack at ~1.
"""

from __future__ import annotations

import math

import torch

_TRUNCATION = 2.0  # in standard deviations, as the official code (and JAX's truncated_normal)


def _truncated_std_factor(bound: float) -> float:
    """The std of a standard normal truncated to [-bound, bound]."""
    pdf = math.exp(-0.5 * bound * bound) / math.sqrt(2 * math.pi)
    mass = math.erf(bound / math.sqrt(2))
    return math.sqrt(1 - 2 * bound * pdf / mass)


def trunc_normal_(tensor: torch.Tensor, std: float) -> torch.Tensor:
    """Fill ``tensor`` in place with a normal truncated at ±2σ whose *actual* std is ``std``."""
    if std == 0:
        return tensor.zero_()
    scale = std / _truncated_std_factor(_TRUNCATION)
    with torch.no_grad():
        return torch.nn.init.trunc_normal_(tensor, mean=0.0, std=scale, a=-_TRUNCATION * scale, b=_TRUNCATION * scale)


def lecun_normal_(tensor: torch.Tensor) -> torch.Tensor:
    """Truncated LeCun normal for a ``[out, in]`` weight: std = 1/sqrt(fan_in)."""
    return trunc_normal_(tensor, std=1.0 / math.sqrt(tensor.shape[-1]))
