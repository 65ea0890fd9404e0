"""Analyses of *how* a recurrent model computes, beyond whether it is right.

* `convergence` — forward residuals ``||z_t - z_{t-1}||`` of each level after every update, segment
  by segment (from ``SegmentOutput.residuals``): does the state settle (a fixed point, as HRM's
  one-step gradient assumes) or keep moving (as TRM argues)?
* `participation_ratio` / `state_participation` — the effective dimensionality
  ``PR = (sum lambda)^2 / sum lambda^2`` of the covariance of a level's states (HRM paper's
  high-level vs low-level dimensionality comparison); computed as ``tr(C)^2 / ||C||_F^2``, which
  equals the eigenvalue form without an eigendecomposition.
* `trace` — one puzzle followed segment by segment: the prediction, the cells that changed, the
  halting policy's decision (through the same `SegmentRunner` as the evaluation), and the verdict of
  the task's rule checker — so a puzzle without a label (a user's own) is judged by the rules alone.

All run the model without gradient, in evaluation mode, for a fixed number of segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from looped_hrm.contracts import IGNORE_INDEX, HaltingPolicy, ReasoningModel, Split, Task
from looped_hrm.engine.correctness import exact_correct, label_free_verifier
from looped_hrm.engine.segment import SegmentRunner


@torch.no_grad()
def rollout(
    model: ReasoningModel,
    split: Split,
    *,
    segments: int,
    device: torch.device | str,
    policy: HaltingPolicy | None = None,
    limit: int | None = None,
    batch_size: int = 128,
):
    """Yield ``(segment, batch, output)`` for every batch of the first ``limit`` examples and every
    segment 1..``segments`` (``policy`` only supplies the refinement-level rule, if any)."""
    device = torch.device(device)
    n = len(split) if limit is None else min(limit, len(split))
    inner = policy.inner_halt(False) if policy is not None and "inner" in model.halting_levels else None
    was_training = model.training
    model.eval()
    try:
        for start in range(0, n, batch_size):
            batch = split.batch(torch.arange(start, min(start + batch_size, n)), device)
            carry = model.initial_carry(batch)
            for s in range(1, segments + 1):
                carry, out = model.segment(carry, batch, inner)
                yield s, batch, out
    finally:
        model.train(was_training)


def convergence(
    model: ReasoningModel,
    split: Split,
    *,
    segments: int,
    device: torch.device | str = "cpu",
    policy: HaltingPolicy | None = None,
    limit: int = 256,
) -> dict[str, np.ndarray]:
    """Per level, the mean forward residual ``[segments, updates_per_segment]`` over examples
    (empty for a model that reports none, e.g. the one-pass transformer baseline)."""
    sums: dict[str, np.ndarray] = {}
    counts = np.zeros(segments)
    for s, batch, out in rollout(model, split, segments=segments, device=device, policy=policy, limit=limit):
        for level, res in out.residuals.items():
            per_update = res.float().sum(0).cpu().numpy()
            if level not in sums:
                sums[level] = np.zeros((segments, len(per_update)))
            sums[level][s - 1] += per_update
        counts[s - 1] += len(batch)
    return {level: total / counts[:, None] for level, total in sums.items()}


def participation_ratio(states: torch.Tensor) -> float:
    """``(sum lambda)^2 / sum lambda^2`` of the covariance of ``states`` ``[samples, D]`` (or ``[..., D]``)."""
    x = states.reshape(-1, states.shape[-1]).to(torch.float64)
    if x.shape[0] < 2:
        raise ValueError("participation ratio needs at least two samples")
    x = x - x.mean(0, keepdim=True)
    cov = x.T @ x / (x.shape[0] - 1)
    denom = (cov * cov).sum()
    return float(torch.trace(cov) ** 2 / denom) if denom > 0 else 0.0


def state_participation(
    model: ReasoningModel,
    split: Split,
    *,
    segments: int,
    device: torch.device | str = "cpu",
    policy: HaltingPolicy | None = None,
    limit: int = 256,
) -> dict[str, float]:
    """PR of each level's state after the last segment; samples are (example, position) pairs
    (empty for a model that reports no states)."""
    collected: dict[str, list[torch.Tensor]] = {}
    for s, _, out in rollout(model, split, segments=segments, device=device, policy=policy, limit=limit):
        if s != segments:
            continue
        for level, state in out.states.items():
            collected.setdefault(level, []).append(state.float().cpu())
    return {level: participation_ratio(torch.cat(parts)) for level, parts in collected.items()}


@dataclass
class SegmentProfile:
    """What one pass of ``segments`` segments over ``examples`` shows (`segment_profile`)."""

    examples: int
    residuals: dict[str, np.ndarray]  # level -> [segments, updates per segment] mean forward residual
    exact: np.ndarray  # [segments] exact accuracy (vs label) after each segment
    verified: np.ndarray | None  # [segments] accepted by Task.verify after each segment (None: not asked)
    halt_prob: np.ndarray | None  # [segments] mean sigmoid(q_halt)
    participation: dict[str, float]  # level -> participation ratio of the states after segment ``pr_segment``
    pr_segment: int
    pr_samples: int  # (example, position) pairs behind each participation ratio


@torch.no_grad()
def segment_profile(
    model: ReasoningModel,
    task: Task,
    split: Split,
    *,
    segments: int,
    pr_segment: int | None = None,
    device: torch.device | str = "cpu",
    policy: HaltingPolicy | None = None,
    limit: int | None = None,
    batch_size: int = 128,
    verify: bool = True,
    max_pr_samples: int = 200_000,
) -> SegmentProfile:
    """Residuals, accuracy and halting probability after every segment, and the participation ratio
    of each level's states after segment ``pr_segment`` (default: the last), in one pass.

    ``max_pr_samples`` bounds the states kept for the ratio (taken from the first examples)."""
    pr_segment = pr_segment or segments
    n = len(split) if limit is None else min(limit, len(split))
    sums: dict[str, np.ndarray] = {}
    exact, verified, halt = np.zeros(segments), np.zeros(segments), np.zeros(segments)
    has_q = False
    collected: dict[str, list[torch.Tensor]] = {}
    kept = 0
    for s, batch, out in rollout(
        model, split, segments=segments, device=device, policy=policy, limit=n, batch_size=batch_size
    ):
        for level, res in out.residuals.items():
            per_update = res.float().sum(0).cpu().numpy()
            sums.setdefault(level, np.zeros((segments, len(per_update))))[s - 1] += per_update
        pred = out.logits.argmax(-1)
        exact[s - 1] += float(exact_correct(pred, batch.labels).sum())
        if verify:
            p, x, y = pred.cpu().numpy(), batch.inputs.cpu().numpy(), batch.labels.cpu().numpy()
            verified[s - 1] += sum(bool(task.verify(a, b, c)) for a, b, c in zip(p, x, y))
        if out.q_halt is not None:
            has_q = True
            halt[s - 1] += float(torch.sigmoid(out.q_halt.float()).sum())
        if s == pr_segment and out.states and kept < max_pr_samples:
            rows = 0
            for level, state in out.states.items():
                flat = state.float().reshape(-1, state.shape[-1])[: max_pr_samples - kept].cpu()
                collected.setdefault(level, []).append(flat)
                rows = flat.shape[0]
            kept += rows
    participation = {level: participation_ratio(torch.cat(parts)) for level, parts in collected.items()}
    return SegmentProfile(
        examples=n,
        residuals={k: v / n for k, v in sums.items()},
        exact=exact / n,
        verified=verified / n if verify else None,
        halt_prob=halt / n if has_q else None,
        participation=participation,
        pr_segment=pr_segment,
        pr_samples=kept,
    )


def unlabelled(inputs: np.ndarray | torch.Tensor) -> Split:
    """A one-row split of a puzzle without an answer (labels all `IGNORE_INDEX`): a user's own puzzle."""
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.int64).reshape(1, -1)
    return Split(
        inputs=x,
        labels=torch.full_like(x, IGNORE_INDEX),
        puzzle_ids=torch.zeros(1, dtype=torch.int64),
        difficulty=torch.zeros(1),
        bucket=torch.zeros(1, dtype=torch.int64),
    )


@dataclass
class TraceStep:
    """One segment of a traced puzzle."""

    segment: int
    prediction: np.ndarray  # [L] tokens after this segment
    changed: np.ndarray  # [L] bool, differs from the previous segment (segment 1: from the input)
    halt: bool | None  # the policy's decision after this segment (None: no policy given)
    halt_prob: float | None  # sigmoid(q_halt), when the model has a halting head
    verified: bool | None  # Task.verify by the rules (None: the task needs a label and there is none)
    correct: bool | None  # equal to the label on every scored cell (None: unlabelled puzzle)
    inner_steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "prediction": self.prediction.tolist(),
            "changed": int(self.changed.sum()),
            "changed_cells": np.flatnonzero(self.changed).tolist(),
            "halt": self.halt,
            "halt_prob": self.halt_prob,
            "verified": self.verified,
            "correct": self.correct,
            "inner_steps": self.inner_steps,
        }


@dataclass
class Trace:
    """A puzzle followed segment by segment (`trace`); ``halted_at`` is the segment where the policy
    (or the cap ``max_segments``) stops it in evaluation, the segments after it show what more compute does."""

    inputs: np.ndarray
    labels: np.ndarray | None
    steps: list[TraceStep] = field(default_factory=list)
    halted_at: int | None = None
    policy: str | None = None
    max_segments: int | None = None

    @property
    def final(self) -> TraceStep:
        """The step whose answer the evaluation reports (the halting segment, else the last)."""
        return self.steps[(self.halted_at or len(self.steps)) - 1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs.tolist(),
            "labels": None if self.labels is None else self.labels.tolist(),
            "policy": self.policy,
            "max_segments": self.max_segments,
            "halted_at": self.halted_at,
            "segments": [s.to_dict() for s in self.steps],
        }


@torch.no_grad()
def trace(
    model: ReasoningModel,
    task: Task,
    split: Split,
    index: int,
    *,
    segments: int,
    device: torch.device | str = "cpu",
    policy: HaltingPolicy | None = None,
    max_segments: int | None = None,
    loss: str = "softmax",
    precision: str = "auto",
) -> Trace:
    """Follow example ``index`` of ``split`` for ``segments`` segments.

    The verdict is the task's own: ``Task.verify`` by the rules of the puzzle, with the label only
    when the task cannot check without one (then an unlabelled puzzle gets ``verified = None``).
    ``correct`` compares with the label and is None when the row has none (all `IGNORE_INDEX`).
    With a ``policy`` each segment also carries its halting decision, made exactly as in
    evaluation (the cap ``max_segments`` included, default ``segments``).
    """
    device = torch.device(device)
    one = split.subset(slice(index, index + 1))
    batch = one.batch(torch.arange(1), device)
    inputs, labels = one.inputs[0].numpy(), one.labels[0].numpy()
    labelled = bool((labels != IGNORE_INDEX).any())
    can_verify = task.label_free_verify or labelled
    cap = max_segments or segments
    runner = (
        SegmentRunner(model, policy, loss=loss, device=device, precision=precision, verify=label_free_verifier(task))
        if policy is not None
        else None
    )
    result = Trace(
        inputs=inputs,
        labels=labels if labelled else None,
        policy=policy.name if policy is not None else None,
        max_segments=cap if policy is not None else None,
    )
    previous = inputs
    was_training = model.training
    model.eval()
    try:
        carry = model.initial_carry(batch)
        pstate = policy.init_state(1, device) if policy is not None else {}
        steps = torch.zeros(1, dtype=torch.int64, device=device)
        generator = torch.Generator(device=device).manual_seed(0)
        inner = policy.inner_halt(False) if policy is not None and "inner" in model.halting_levels else None
        for s in range(1, segments + 1):
            halt = None
            if runner is not None:
                st = runner(carry, batch, pstate, steps, training=False, max_steps=cap, generator=generator)
                carry, out, pstate, steps = st.carry, st.output, st.decision.state, st.steps
                halt = bool(st.halt[0])
            else:
                carry, out = model.segment(carry, batch, inner)
            pred = out.logits.argmax(-1)[0].cpu().numpy()
            step = TraceStep(
                segment=s,
                prediction=pred,
                changed=pred != previous,
                halt=halt,
                halt_prob=float(torch.sigmoid(out.q_halt[0].float())) if out.q_halt is not None else None,
                verified=bool(task.verify(pred, inputs, labels if labelled else None)) if can_verify else None,
                correct=bool(exact_correct(torch.from_numpy(pred)[None], one.labels)[0]) if labelled else None,
                inner_steps=int(out.inner_steps[0]) if out.inner_steps is not None else None,
            )
            result.steps.append(step)
            if halt and result.halted_at is None:
                result.halted_at = s
            previous = pred
    finally:
        model.train(was_training)
    return result
