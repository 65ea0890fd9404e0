"""``two_level``: adaptive compute at two levels — the LoopedHRM design.

* **Refinement level** (inside a segment): a model with an inner level (``halting_levels`` contains
  ``"inner"``) calls ``inner_halt(step, logits)`` after each refinement step; a row ends its burst
  once ``sigmoid(logit) > inner_threshold`` and it has run ``min_inner_steps`` steps. Bursts have a
  different length per example.
* **Segment level**: after the segment, a row halts once ``sigmoid(q_halt) > threshold`` (TRM's
  rule), with HRM's exploration floor in training.

Both heads learn "is the current answer right?" by binary cross-entropy (the inner targets come
from ``SegmentOutput.inner_preds``, the prediction after each inner step) and pay a compute
penalty — ``compute_penalty * (1 - sigmoid(logit))`` per decision to go on — that pulls the
halting probabilities up; the penalty weights set the balance between correctness and compute:
at 0 the heads are calibrated correctness estimates, larger values stop earlier at some cost in
accuracy. Inner-level terms are averaged over the steps a row ran, so the two levels have the same
scale.

A model without an inner level runs the segment level only (``optional_levels``), so the policy
applies to every model with a Q head. Inner steps and outer segments are reported separately by the
engine (``inner_steps`` vs ``segments``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from looped_hrm.contracts import (
    IGNORE_INDEX,
    HaltContext,
    HaltDecision,
    HaltingSpec,
    InnerHalt,
    PolicyState,
    SegmentOutput,
)
from looped_hrm.plugins.halting.base import PolicyBase, bce, count, exploration_floor, require_q_halt


@dataclass
class TwoLevelConfig:
    threshold: float = 0.5  # segment level: halt when sigmoid(q_halt) exceeds it
    inner_threshold: float = 0.5  # refinement level: end the burst when sigmoid(inner logit) exceeds it
    min_inner_steps: int = 1  # a burst runs at least this many refinement steps
    exploration_prob: float = 0.1  # segment level, as in act_q
    inner_exploration_prob: float = 0.1  # training: chance per inner step of ignoring a stop
    q_loss_weight: float = 0.5  # weight of the segment-level BCE
    inner_loss_weight: float = 0.5  # weight of the refinement-level BCE
    compute_penalty: float = 0.01  # segment level: price of deciding to continue
    inner_compute_penalty: float = 0.01  # refinement level: price of deciding to continue

    def __post_init__(self) -> None:
        for name in ("threshold", "inner_threshold"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        for name in ("exploration_prob", "inner_exploration_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.min_inner_steps < 1:
            raise ValueError(f"min_inner_steps must be >= 1, got {self.min_inner_steps}")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class TwoLevelPolicy(PolicyBase):
    name = "two_level"
    levels = frozenset({"segment", "inner"})
    optional_levels = frozenset({"inner"})  # models without an inner level use the segment level only
    needs_q_head = True

    def __init__(self, config: TwoLevelConfig | None = None) -> None:
        self.config = config or TwoLevelConfig()

    def inner_halt(self, training: bool) -> InnerHalt:
        cfg = self.config
        threshold = _logit(cfg.inner_threshold)
        explore = cfg.inner_exploration_prob if training else 0.0

        def stop(step: int, logits: torch.Tensor) -> torch.Tensor:
            wish = logits.float() > threshold
            if explore > 0:
                wish = wish & (torch.rand(logits.shape, device=logits.device) >= explore)
            if step < cfg.min_inner_steps:
                wish = torch.zeros_like(wish)
            return wish

        return stop

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        cfg = self.config
        q_halt = require_q_halt(output, self.name)
        halt = (q_halt > _logit(cfg.threshold)) & (ctx.steps >= exploration_floor(ctx, cfg.exploration_prob))
        halt_loss = bce(q_halt, ctx.correct)
        penalty = cfg.compute_penalty * (1 - torch.sigmoid(q_halt))
        loss = cfg.q_loss_weight * halt_loss.sum() + penalty.sum()
        metrics = {
            "q_halt_loss": halt_loss.detach().sum(),
            "q_halt_accuracy": count((q_halt.detach() >= 0) == ctx.correct),
        }

        if output.inner_halt_logits is not None:
            inner_loss, inner_metrics = self._inner_terms(output, ctx)
            loss = loss + inner_loss
            metrics.update(inner_metrics)
        return HaltDecision(halt=halt, loss=loss, state=state, metrics=metrics)

    def _inner_terms(self, output: SegmentOutput, ctx: HaltContext) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.config
        if output.inner_halt_logits is None:
            raise ValueError("two_level: the inner level needs the model's inner_halt_logits")
        logits = output.inner_halt_logits.float()  # [B, K]
        if output.inner_preds is None:
            raise ValueError("two_level: a model with inner halting logits must also return inner_preds")
        k = logits.shape[1]
        ran = output.inner_steps if output.inner_steps is not None else torch.full_like(ctx.steps, k)
        mask = torch.arange(k, device=logits.device).unsqueeze(0) < ran.unsqueeze(1)  # [B, K]
        scored = (ctx.labels != IGNORE_INDEX).unsqueeze(1)
        target = ((output.inner_preds == ctx.labels.unsqueeze(1)) | ~scored).all(-1)  # [B, K]
        per_step = cfg.inner_loss_weight * bce(logits, target) + cfg.inner_compute_penalty * (1 - torch.sigmoid(logits))
        per_row = (per_step * mask).sum(-1) / mask.sum(-1).clamp_min(1)
        right = ((logits.detach() >= 0) == target) & mask
        metrics = {
            "inner_halt_loss": (bce(logits.detach(), target) * mask).sum(-1).div(mask.sum(-1).clamp_min(1)).sum(),
            "inner_halt_accuracy": right.float().sum(-1).div(mask.sum(-1).clamp_min(1)).sum(),
        }
        return per_row.sum(), metrics


SPEC = HaltingSpec(
    name="two_level",
    factory=TwoLevelPolicy,
    config=TwoLevelConfig,
    description="refinement-level halt inside a segment + segment-level halt; BCE on correctness vs a compute penalty",
    presets={"no_penalty": {"compute_penalty": 0.0, "inner_compute_penalty": 0.0}},
)
