"""Per-example scores and their summary into a flat, JSON-able metrics dict.

Definitions (the papers' where they have one):

* ``exact_accuracy`` (see `looped_hrm.engine.correctness`) — every scored token (label != IGNORE_INDEX) equals the label (HRM's
  ``exact_accuracy``, what the papers report);
* ``verified_accuracy`` — ``Task.verify`` accepts the prediction by the rules of the puzzle (equal to
  exact accuracy when the answer is unique, higher when several answers are valid);
* ``token_accuracy`` — the mean over examples of the fraction of scored tokens right;
* ``segments`` — outer segments run per example; ``inner_steps`` — refinement steps per example
  summed over its segments; ``flops`` — forward FLOPs spent per example (the model's per-example
  ``SegmentOutput.flops`` when given, else ``compute_profile().forward_flops`` per segment);
* halting quality, against the same model run by the fixed evaluation (``first_correct`` = the
  first segment whose answer is right; ``solvable`` = the share of examples with one within this
  pass's cap): ``halt_accuracy`` — per decision, "stop" agrees with "the answer is right now"
  (HRM's ``q_halt_accuracy`` generalised to any policy); among solvable examples,
  ``halted_at_first_correct`` — stopped exactly at the first correct segment, ``premature_halt`` —
  stopped wrong before it; ``overthinking`` — mean segments spent after the first correct one,
  among examples right when they stopped; ``oracle_mean_segments`` — what the oracle would spend
  (the cap for unsolvable examples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from looped_hrm.contracts import Task


@dataclass
class ExampleResults:
    """What one evaluation pass measured per example (CPU tensors, ``N`` rows)."""

    predictions: torch.Tensor  # [N, L] final prediction
    correct: torch.Tensor  # [N] bool, exact
    token_accuracy: torch.Tensor  # [N]
    segments: torch.Tensor  # [N] int64
    inner_steps: torch.Tensor  # [N] float
    flops: torch.Tensor  # [N] float
    first_correct: torch.Tensor  # [N] int64, first segment with an exact answer (0: never)
    correct_at: dict[int, torch.Tensor] = field(default_factory=dict)  # segments -> [N] bool (fixed runs)
    verified: torch.Tensor | None = None  # [N] bool, Task.verify
    halt_agree: float = 0.0  # decisions where "stop" == "right now"
    decisions: float = 0.0  # decisions counted
    policy_metrics: dict[str, float] = field(default_factory=dict)  # the policy's own metrics, per decision
    wall_s: float = 0.0
    trajectory: torch.Tensor | None = (
        None  # [N, S, L] int16 prediction after each segment run (evaluate(trajectory=True))
    )
    halt_probs: torch.Tensor | None = None  # [N, S] sigmoid(q_halt) after each segment run (models with a halting head)


def _mean(x: torch.Tensor) -> float | None:
    """The mean, or None (JSON null) for an empty selection: undefined, not zero."""
    return float(x.float().mean()) if x.numel() else None


def summarize(
    res: ExampleResults,
    *,
    bucket: torch.Tensor,
    bucket_names: Sequence[str],
    reference_first_correct: torch.Tensor | None = None,
    max_segments: int | None = None,
) -> dict[str, float | None]:
    """The flat metrics of one pass; ``reference_first_correct`` (from a fixed run) enables the
    halting-quality metrics, over the examples that run gets right within ``max_segments`` (the
    cap of this pass: a later first success was out of the policy's reach)."""
    n = len(res.correct)
    out: dict[str, float | None] = {
        "examples": n,
        "exact_accuracy": _mean(res.correct),
        "token_accuracy": _mean(res.token_accuracy),
        "mean_segments": _mean(res.segments),
        "mean_inner_steps": _mean(res.inner_steps),
        "flops_per_example": _mean(res.flops),
        "wall_s": res.wall_s,
        "examples_per_s": n / res.wall_s if res.wall_s > 0 else None,
    }
    if res.verified is not None:
        out["verified_accuracy"] = _mean(res.verified)
    if res.decisions:
        out["halt_accuracy"] = res.halt_agree / res.decisions
    for name, value in res.policy_metrics.items():
        out[f"policy_{name}"] = value
    for segments, correct in sorted(res.correct_at.items()):
        out[f"exact_accuracy@{segments}"] = _mean(correct)
    if reference_first_correct is not None:
        first = reference_first_correct
        solvable = (first > 0) & (first <= (max_segments or int(first.max())))
        out["solvable"] = _mean(solvable)
        out["halted_at_first_correct"] = _mean((res.segments == first)[solvable])
        out["premature_halt"] = _mean((~res.correct & (res.segments < first))[solvable])
        right = res.correct & solvable
        out["overthinking"] = _mean((res.segments - first)[right]) if right.any() else 0.0
        out["oracle_mean_segments"] = _mean(torch.where(solvable, first, res.segments))
    for b, name in enumerate(bucket_names):
        rows = bucket == b
        if not rows.any():
            continue
        prefix = f"bucket/{name}/"
        out[prefix + "examples"] = int(rows.sum())
        out[prefix + "exact_accuracy"] = _mean(res.correct[rows])
        out[prefix + "mean_segments"] = _mean(res.segments[rows])
        out[prefix + "mean_inner_steps"] = _mean(res.inner_steps[rows])
        out[prefix + "flops_per_example"] = _mean(res.flops[rows])
        if res.verified is not None:
            out[prefix + "verified_accuracy"] = _mean(res.verified[rows])
    return out


def verify_all(task: Task, predictions: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[N]`` bool: ``task.verify`` on every example (host loop; the rules, not the label)."""
    preds, ins, labs = predictions.cpu().numpy(), inputs.cpu().numpy(), labels.cpu().numpy()
    return torch.tensor([bool(task.verify(p, x, y)) for p, x, y in zip(preds, ins, labs)], dtype=torch.bool)
