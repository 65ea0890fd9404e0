"""Convolutional layers, for models that mix positions by convolution instead of attention.

A convolution is local and weight-shared, so a network built from these layers runs unchanged on a
sequence or grid of any size: the property DeepThinking networks (Schwarzschild et al. 2021, Bansal
et al. 2022) rely on to solve larger problems than they were trained on by running more iterations.

Layers take channels-first tensors, ``[B, C, L]`` (``dims=1``) or ``[B, C, H, W]`` (``dims=2``). The
convolutions are bias-free with "same" padding and PyTorch's default initialisation, as in the
residual networks these models come from.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from looped_hrm.nn.flops import Flops

KERNEL = 3


def conv(dims: int, in_channels: int, out_channels: int, kernel: int = KERNEL) -> nn.Conv1d | nn.Conv2d:
    """A bias-free, stride-1, same-padded convolution over ``dims`` spatial axes (1 or 2)."""
    if dims not in (1, 2):
        raise ValueError(f"dims must be 1 or 2, got {dims}")
    layer = nn.Conv1d if dims == 1 else nn.Conv2d
    return layer(in_channels, out_channels, kernel_size=kernel, stride=1, padding=kernel // 2, bias=False)


def conv_flops(layer: nn.Conv1d | nn.Conv2d, positions: int) -> Flops:
    """Forward FLOPs of ``layer`` over ``positions`` output positions (a multiply-add is 2)."""
    taps = 1
    for k in layer.kernel_size:
        taps *= k
    return Flops(matmul=2.0 * layer.in_channels * layer.out_channels * taps * positions)


class BasicBlock(nn.Module):
    """The ResNet basic block without normalisation: ``relu(x + conv2(relu(conv1(x))))``, width kept.

    (He et al. 2016, the block DeepThinking's recurrent module repeats.)
    """

    def __init__(self, dims: int, width: int) -> None:
        super().__init__()
        self.conv1 = conv(dims, width, width)
        self.conv2 = conv(dims, width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        return F.relu(out + x)

    def flops(self, positions: int) -> Flops:
        return conv_flops(self.conv1, positions) + conv_flops(self.conv2, positions)
