"""What the built-in halting policies share: protocol defaults and a few batch-level helpers.

A policy only has to implement ``step``; everything here is a convenience, not part of the contract
(a third-party policy can implement `looped_hrm.contracts.HaltingPolicy` from scratch).

All helpers are free of host synchronisation (no ``.item()``, no boolean indexing), because
``step`` runs inside the engine's hot loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from looped_hrm.contracts import HaltContext, InnerHalt, PolicyState, SegmentOutput


class PolicyBase:
    """Defaults for the protocol's flags and optional methods."""

    name = "base"
    levels: frozenset[str] = frozenset()
    optional_levels: frozenset[str] = frozenset()
    needs_q_head = False
    needs_lookahead = False
    uses_labels = False
    runs_to_cap = False  # never stops a row before the cap (`looped_hrm.contracts.HaltingPolicy`)

    def init_state(self, batch_size: int, device: torch.device) -> PolicyState:
        return {}

    def inner_halt(self, training: bool) -> InnerHalt | None:
        return None

    def describe(self) -> str:
        """One line for tables and logs (oracle-like policies say they are upper bounds)."""
        return self.name


def require_q_halt(output: SegmentOutput, policy: str) -> torch.Tensor:
    if output.q_halt is None:
        raise ValueError(
            f"halting policy '{policy}' needs a halting head, but the model's SegmentOutput.q_halt is None"
        )
    return output.q_halt.float()


def bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-example binary cross-entropy with logits, ``[B]`` (float32)."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")


def exploration_floor(ctx: HaltContext, prob: float, low: int = 2) -> torch.Tensor:
    """HRM's exploration: with probability ``prob`` a row may not halt before a random number of
    segments drawn from ``U{low..max_steps}``; otherwise the floor is 0. Drawn afresh at every
    segment, exactly as the official code does (``hrm_act_v1.py``)."""
    steps = ctx.steps
    if not ctx.training or prob <= 0 or ctx.max_steps < low:
        return torch.zeros_like(steps)
    offset, total = ctx.rows or (0, steps.shape[0])
    explore = torch.rand((total,), generator=ctx.generator, device=steps.device) < prob
    floor = torch.randint(low, ctx.max_steps + 1, (total,), generator=ctx.generator, device=steps.device)
    rows = slice(offset, offset + steps.shape[0])  # this rank's rows of a data-parallel batch
    return torch.where(explore[rows], floor[rows], torch.zeros_like(steps))


def last_step(ctx: HaltContext) -> torch.Tensor:
    """``[B]`` bool: this segment is the last one the engine will run for the row."""
    return ctx.steps >= ctx.max_steps


def count(mask: torch.Tensor) -> torch.Tensor:
    """The number of True rows as a float scalar tensor (metrics are summed over the batch)."""
    return mask.float().sum()
