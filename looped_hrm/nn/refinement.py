"""The refinement loop: a step applied up to K times per segment, with per-example early stopping
(the inner level of two-level halting) and gradient through each example's last ``k`` steps.

Used by the looped transformer (a step = one pass of the weight-tied stack) and TRM (a step = one
recursion cycle: n latent updates and one answer update).

How gradient truncation and early stopping fit together:

* **fixed schedule** (no ``inner_halt``): the first K − k steps run under ``torch.no_grad()`` and the
  last k with gradient — memory is O(k), not O(K), as in HRM's one-step gradient.
* **inner halting while training**: when a row stops is only known after the fact, and autograd
  cannot drop the graph of some rows of a batched tensor. So the loop first runs without gradient,
  asking ``inner_halt`` after every step (stopped rows keep their state; the loop ends when every row
  has stopped), while keeping the last k states; then each row's last ``min(k, steps)`` steps are
  replayed with gradient from the state it had k steps before it stopped. Exact truncated
  gradient, O(k) memory, at the price of k extra step evaluations per segment (a training cost
  only: evaluation runs under ``no_grad`` and never replays).
* **evaluation** (gradient disabled): one pass; rows that stopped are dropped from the batch for the
  remaining steps, so the compute they save is really saved.

Residual norms ‖z_t − z_{t−1}‖ and the read-outs after every step (position-0 feature, halting
logit, argmax prediction) are recorded for the halting policy and the analyses; a row's entries
after it stopped repeat its final values (its residuals are 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from looped_hrm.contracts import InnerHalt, scatter_rows, select_rows, where_rows

State = dict[str, torch.Tensor]
Step = Callable[[State, torch.Tensor], tuple[State, dict[str, torch.Tensor]]]
"""``step(state, x) -> (new_state, residuals)``: one refinement step of a sub-batch; ``residuals``
maps a level name to ``[b, m]`` norms of the ``m`` updates that level made inside the step."""
Readout = Callable[[State], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
"""``readout(state) -> (feature [B, D], halt_logit [B], prediction [B, L])``, called under no_grad."""


@torch.no_grad()
def residual_norm(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Per-example ‖new − old‖ over all positions and channels, float32 ``[B]``."""
    return (new.float() - old.float()).flatten(1).norm(dim=1)


@dataclass
class Refinement:
    """The result of `refine`."""

    state: State  # final state; carries gradient through each row's last min(k, steps) steps
    steps: torch.Tensor  # [B] int64 steps each row ran
    residuals: dict[str, torch.Tensor]  # level -> [B, K·m] float32
    features: torch.Tensor  # [B, K, D] detached read-out feature after each step
    predictions: torch.Tensor  # [B, K, L] argmax prediction after each step


class _Trace:
    """Per-step records, preallocated for K steps over the whole batch."""

    def __init__(self, batch: int, max_steps: int, readout: Readout) -> None:
        self.batch, self.max_steps, self.readout = batch, max_steps, readout
        self.residuals: dict[str, torch.Tensor] = {}
        self.features: torch.Tensor | None = None
        self.predictions: torch.Tensor | None = None
        self.last = 0

    def record(
        self, step: int, state: State, residuals: dict[str, torch.Tensor], rows: torch.Tensor | None
    ) -> torch.Tensor:
        """Store step ``step`` (1-based); ``rows`` are the rows that moved (None: all). Returns the halt logits."""
        with torch.no_grad():
            for level, values in residuals.items():
                m = values.shape[1]
                if level not in self.residuals:
                    self.residuals[level] = values.new_zeros(self.batch, self.max_steps * m, dtype=torch.float32)
                target = self.residuals[level][:, (step - 1) * m : step * m]
                if rows is None:
                    target.copy_(values)
                else:
                    target[rows] = values.float()
            feature, logit, prediction = self.readout({k: v.detach() for k, v in state.items()})
            if self.features is None or self.predictions is None:
                self.features = feature.new_empty(self.batch, self.max_steps, feature.shape[-1])
                self.predictions = prediction.new_empty(self.batch, self.max_steps, prediction.shape[-1])
            self.features[:, step - 1] = feature
            self.predictions[:, step - 1] = prediction
        self.last = step
        return logit

    def finish(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The features and predictions of every step, the last recorded column repeated over the
        steps the loop skipped (every row had stopped)."""
        features, predictions = self.features, self.predictions
        if features is None or predictions is None:
            raise RuntimeError("refinement recorded no step")
        if self.last < self.max_steps:
            features[:, self.last :] = features[:, self.last - 1 : self.last]
            predictions[:, self.last :] = predictions[:, self.last - 1 : self.last]
        return features, predictions


def _decide(
    step: Step, state: State, x: torch.Tensor, steps: int, trace: _Trace, inner_halt: InnerHalt | None, keep: int | None
) -> tuple[State, torch.Tensor, State | None]:
    """Run up to ``steps`` steps (the caller disables gradient), stopping rows as ``inner_halt`` says.

    With ``keep = k`` also returns, per row, the state k steps before it stopped (or the initial
    state if it ran fewer than k), from which `_replay` redoes its last steps with gradient.
    """
    batch = x.shape[0]
    ran = torch.zeros(batch, dtype=torch.int64, device=x.device)
    stopped = torch.zeros(batch, dtype=torch.bool, device=x.device)
    history = [state]  # with keep: the states of the last keep + 1 steps
    start = dict(state)
    for s in range(1, steps + 1):
        if inner_halt is not None and stopped.any():  # (no host sync on a fixed schedule)
            rows = (~stopped).nonzero().squeeze(1)
            update, residuals = step(select_rows(state, rows), x[rows])
            state = scatter_rows(state, rows, update)
        else:
            rows = None
            state, residuals = step(state, x)
        ran += (~stopped).long()
        logit = trace.record(s, state, residuals, rows)
        if inner_halt is None:
            continue
        stop_now = inner_halt(s, logit).bool() & ~stopped
        if keep is not None:
            history = history[-keep:] + [state]
            start = where_rows(stop_now, history[-1 - min(keep, s)], start)
        stopped |= stop_now
        if stopped.all():
            break
    if keep is None:
        return state, ran, None
    if not stopped.all():
        # rows that ran every step: their window starts k steps before the end
        start = where_rows(~stopped, history[-1 - min(keep, steps)], start)
    return state, ran, start


def _replay(step: Step, start: State, x: torch.Tensor, ran: torch.Tensor, window: int) -> State:
    """Redo each row's last ``min(window, ran)`` steps with gradient, from its ``start`` state."""
    own = torch.clamp(ran, max=window)
    state = start
    for j in range(window):
        update, _ = step(state, x)
        state = where_rows(j >= window - own, update, state)  # a row with w steps joins at step window − w
    return state


def refine(
    step: Step,
    state: State,
    x: torch.Tensor,
    *,
    max_steps: int,
    grad_steps: int | None,
    readout: Readout,
    inner_halt: InnerHalt | None = None,
) -> Refinement:
    """Apply ``step`` up to ``max_steps`` times (see the module docstring for the schedule).

    ``grad_steps``: gradient through each row's last ``grad_steps`` steps (None: all of them).
    ``inner_halt(step, halt_logit[B]) -> stop[B]``: ends a row's refinement burst; None runs all K steps.
    """
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    window = max_steps if grad_steps is None else min(grad_steps, max_steps)
    train = torch.is_grad_enabled() and window > 0
    replay = train and inner_halt is not None
    trace = _Trace(x.shape[0], max_steps, readout)
    free_steps = max_steps - window if train and not replay else max_steps
    with torch.no_grad():
        state, ran, start = _decide(step, state, x, free_steps, trace, inner_halt, window if replay else None)
    if replay:
        assert start is not None  # _decide keeps it when asked to (keep=window)
        state = _replay(step, start, x, ran, window)
    elif train:
        for s in range(free_steps + 1, max_steps + 1):
            state, residuals = step(state, x)
            trace.record(s, state, residuals, None)
        ran = torch.full_like(ran, max_steps)
    features, predictions = trace.finish()
    return Refinement(state=state, steps=ran, residuals=trace.residuals, features=features, predictions=predictions)
