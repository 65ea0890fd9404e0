"""What an evaluation pass measured per example (`ExampleResults`) and its summary into a flat,
JSON-able metrics dict (`summarize`). Every metric is defined in `looped_hrm.evaluation.catalogue`:
its meaning, the per-example values behind it and how tables print it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from looped_hrm.contracts import Task
from looped_hrm.evaluation.catalogue import PASS_METRICS, POLICY_OWN, Reference, within_pass


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
    correct_steps: torch.Tensor | None = None  # [N, T] bool, exact after each step (evaluate(every_step=True))
    steps_per_segment: int = 1  # steps in correct_steps per segment: the model's inner steps, or 1


def summarize(
    res: ExampleResults,
    *,
    bucket: torch.Tensor,
    bucket_names: Sequence[str],
    reference_first_correct: torch.Tensor | None = None,
    max_segments: int | None = None,
) -> dict[str, float | None]:
    """The flat metrics of one pass, keyed within the pass (`catalogue.within_pass`): every metric of
    `catalogue.PASS_METRICS` the pass measured, overall and per difficulty bucket (empty buckets are
    left out). ``reference_first_correct`` (from a fixed run) enables the halting-quality metrics,
    over the examples that run gets right within ``max_segments`` (the cap of this pass: a later
    first success was out of the policy's reach)."""
    n = len(res.correct)
    ref = None if reference_first_correct is None else Reference.of(reference_first_correct, max_segments)
    out: dict[str, float | None] = {
        within_pass("examples"): n,
        within_pass("wall_s"): res.wall_s,
        within_pass("examples_per_s"): n / res.wall_s if res.wall_s > 0 else None,
    }
    if res.decisions:
        out[within_pass("halt_accuracy")] = res.halt_agree / res.decisions
    for name, value in res.policy_metrics.items():
        out[POLICY_OWN + name] = value
    measured = [(m, v) for m in PASS_METRICS if m.values is not None and (v := m.values(res, ref)) is not None]
    for metric, values in measured:
        out[metric.name] = metric.summary(values)
        for segments, at in sorted(metric.values_at(res).items()) if metric.values_at else ():
            out[within_pass(metric.name, at=segments)] = metric.summary(at)
    if res.correct_steps is not None and res.correct_steps.shape[1]:
        curve = res.correct_steps.float().mean(0)
        peak = int(curve.argmax())  # the first step at the maximum
        out[within_pass("steps_per_segment")] = res.steps_per_segment
        out[within_pass("peak_exact_accuracy")] = float(curve[peak])
        out[within_pass("peak_step")] = peak + 1
        out[within_pass("overthinking_drop")] = float(curve[peak] - curve[-1])
    for b, name in enumerate(bucket_names):
        rows = bucket == b
        if not rows.any():
            continue
        out[within_pass("examples", bucket=name)] = int(rows.sum())
        for metric, values in measured:
            if metric.per_bucket:
                out[within_pass(metric.name, bucket=name)] = metric.summary(values[rows])
    return out


def verify_all(task: Task, predictions: torch.Tensor, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[N]`` bool: ``task.verify`` on every example (host loop; the rules, not the label)."""
    preds, ins, labs = predictions.cpu().numpy(), inputs.cpu().numpy(), labels.cpu().numpy()
    return torch.tensor([bool(task.verify(p, x, y)) for p, x, y in zip(preds, ins, labs)], dtype=torch.bool)
