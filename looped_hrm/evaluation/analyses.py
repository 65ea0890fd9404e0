"""Analyses of *how* a recurrent model computes, beyond whether it is right.

* `convergence` — forward residuals ``||z_t - z_{t-1}||`` of each level after every update, segment
  by segment (from ``SegmentOutput.residuals``): does the state settle (a fixed point, as HRM's
  one-step gradient assumes) or keep moving (as TRM argues)?
* `participation_ratio` / `state_participation` — the effective dimensionality
  ``PR = (sum lambda)^2 / sum lambda^2`` of the covariance of a level's states (HRM paper's
  high-level vs low-level dimensionality comparison); computed as ``tr(C)^2 / ||C||_F^2``, which
  equals the eigenvalue form without an eigendecomposition.
* `trace` — one puzzle followed segment by segment: the prediction (rendered with
  ``Task.render``), whether it is right, how many tokens changed, the halting probability.

All run the model without gradient, in evaluation mode, for a fixed number of segments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from looped_hrm.contracts import Split, Task
from looped_hrm.engine.correctness import exact_correct


@torch.no_grad()
def rollout(model, split: Split, *, segments: int, device: torch.device | str, policy=None,
            limit: int | None = None, batch_size: int = 128):
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


def convergence(model, split: Split, *, segments: int, device: torch.device | str = "cpu", policy=None,
                limit: int = 256) -> dict[str, np.ndarray]:
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


def state_participation(model, split: Split, *, segments: int, device: torch.device | str = "cpu", policy=None,
                        limit: int = 256) -> dict[str, float]:
    """PR of each level's state after the last segment; samples are (example, position) pairs
    (empty for a model that reports no states)."""
    collected: dict[str, list[torch.Tensor]] = {}
    for s, _, out in rollout(model, split, segments=segments, device=device, policy=policy, limit=limit):
        if s != segments:
            continue
        for level, state in out.states.items():
            collected.setdefault(level, []).append(state.float().cpu())
    return {level: participation_ratio(torch.cat(parts)) for level, parts in collected.items()}


def trace(model, task: Task, split: Split, index: int, *, segments: int, device: torch.device | str = "cpu",
          policy=None) -> dict[str, Any]:
    """Follow example ``index`` for ``segments`` segments: one record per segment plus a text rendering."""
    one = split.subset(slice(index, index + 1))
    records = []
    previous = None
    for s, batch, out in rollout(model, one, segments=segments, device=device, policy=policy):
        pred = out.logits.argmax(-1)
        record = {
            "segment": s,
            "prediction": pred[0].cpu().numpy(),
            "correct": bool(exact_correct(pred, batch.labels)[0]),
            "changed": int((pred != previous).sum()) if previous is not None else int(pred.numel()),
            "halt_prob": float(torch.sigmoid(out.q_halt[0].float())) if out.q_halt is not None else None,
        }
        if out.inner_steps is not None:
            record["inner_steps"] = int(out.inner_steps[0])
        records.append(record)
        previous = pred
    lines = [f"example {index}: input", task.render(one.inputs[0].numpy())]
    for r in records:
        halt = f", halt p={r['halt_prob']:.3f}" if r["halt_prob"] is not None else ""
        lines.append(f"segment {r['segment']}: {'correct' if r['correct'] else 'wrong'}, "
                     f"{r['changed']} tokens changed{halt}")
        lines.append(task.render(r["prediction"]))
    return {"index": index, "segments": records, "text": "\n".join(lines)}
