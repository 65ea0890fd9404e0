"""Token-level cross-entropies, reduced the way HRM/TRM reduce them: per example, the mean over its
scored tokens (positions labelled `IGNORE_INDEX` are skipped).

Stablemax (Prieto et al., "Grokking at the edge of numerical stability") replaces ``exp`` by
``s(x) = x + 1`` for ``x >= 0`` and ``1 / (1 - x)`` for ``x < 0``. Its growth is linear, so the
logits cannot run away to buy ever smaller losses on already-solved examples; the official HRM
computes it in float64 and so do we. Softmax cross-entropy is the usual alternative (the official
full Sudoku-Hard run uses it).

Both return a ``[B]`` float32 vector so that halting policies can weight examples individually
(PonderNet) before summing; the engine divides the batch total by the batch size.
"""

from __future__ import annotations

from typing import Callable, Literal

import torch
import torch.nn.functional as F

from looped_hrm.contracts import IGNORE_INDEX

LossName = Literal["stablemax", "softmax"]


def _stablemax_s(x: torch.Tensor, epsilon: float = 1e-30) -> torch.Tensor:
    return torch.where(x < 0, 1 / (1 - x + epsilon), x + 1)


def log_stablemax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log(s(x) / sum(s(x)))`` along ``dim``: the stablemax analogue of ``log_softmax``."""
    s = _stablemax_s(x)
    return torch.log(s / s.sum(dim=dim, keepdim=True))


def _per_example_mean(token_loss: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each row's scored tokens; a row with none scores 0 (and gets no gradient)."""
    count = mask.sum(-1).clamp_min(1)
    return (token_loss * mask).sum(-1) / count


def stablemax_cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """Per-example stablemax cross-entropy ``[B]`` of ``logits [B, L, V]`` against ``labels [B, L]``,
    computed in float64 as in the official HRM."""
    mask = labels != ignore_index
    logprobs = log_stablemax(logits.to(torch.float64), dim=-1)
    target = torch.where(mask, labels, 0).unsqueeze(-1)
    token_loss = -torch.gather(logprobs, -1, target).squeeze(-1)
    return _per_example_mean(token_loss, mask).to(torch.float32)


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Per-example softmax cross-entropy ``[B]`` (float32) of ``logits [B, L, V]`` against ``labels [B, L]``."""
    mask = labels != ignore_index
    token_loss = F.cross_entropy(
        logits.to(torch.float32).transpose(1, 2), labels, ignore_index=ignore_index, reduction="none"
    )
    return _per_example_mean(token_loss, mask)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "stablemax": stablemax_cross_entropy,
    "softmax": softmax_cross_entropy,
}


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The per-example loss called ``name`` (``stablemax`` or ``softmax``)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss '{name}' (known: {', '.join(LOSSES)})") from None
