"""One segment for a batch of slots: the model step, the task loss, the halting decision.

Shared by training and evaluation so that both see exactly the same predictions, correctness and
halting rule. The engine never decides *how* to halt: it builds a `HaltContext`, asks the policy,
and only adds the hard cap ``steps >= max_steps``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from looped_hrm.contracts import (
    Batch,
    Carry,
    HaltContext,
    HaltDecision,
    HaltingPolicy,
    PolicyState,
    ReasoningModel,
    SegmentOutput,
    compatibility_problem,
)
from looped_hrm.engine.compiled import compiled_segment
from looped_hrm.engine.correctness import exact_correct
from looped_hrm.nn.losses import get_loss


def autocast_for(device: torch.device, precision: str) -> Callable[[], contextlib.AbstractContextManager]:
    """bf16 autocast on CUDA (``auto`` or ``bf16``), plain float32 elsewhere."""
    if device.type == "cuda" and precision in ("auto", "bf16"):
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    if precision == "bf16" and device.type != "cuda":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def check_compatible(model: ReasoningModel, policy: HaltingPolicy) -> None:
    """Fail early, with names, when a policy needs what the model does not offer."""
    problem = compatibility_problem(frozenset(model.halting_levels), policy)
    if problem:
        raise ValueError(f"{type(model).__name__}: {problem}")


@dataclass
class SegmentStep:
    carry: Carry  # detached
    output: SegmentOutput
    decision: HaltDecision
    halt: torch.Tensor  # [B] the policy's wish or the cap
    predictions: torch.Tensor  # [B, L]
    correct: torch.Tensor  # [B] bool
    lm_loss: torch.Tensor  # [B] (with grad in training)
    loss: torch.Tensor  # scalar: task term + the policy's halting term, summed over the batch
    steps: torch.Tensor  # [B] segments run including this one


def segment_loss(lm_loss: torch.Tensor, decision: HaltDecision) -> torch.Tensor:
    """The loss of one segment summed over the batch: the engine's task loss (weighted per row when
    the policy says so) plus the policy's halting term."""
    task = lm_loss.sum() if decision.task_weight is None else (decision.task_weight * lm_loss).sum()
    return task if decision.loss is None else task + decision.loss


def mix_aux_loss(main: torch.Tensor, aux: torch.Tensor, weight: float) -> torch.Tensor:
    """``(1 − weight)·main + weight·aux`` per row (`SegmentOutput.aux_logits`). At weight 1 the main
    term is left out rather than multiplied by 0, so no backward pass runs through its graph (as the
    official DeepThinking code skips it at alpha = 1)."""
    if weight == 1:
        return aux
    if weight == 0:
        return main
    return (1 - weight) * main + weight * aux


class SegmentRunner:
    """Runs one segment of ``model`` under ``policy`` (see module docstring)."""

    def __init__(
        self,
        model: ReasoningModel,
        policy: HaltingPolicy,
        *,
        loss: str,
        device: torch.device,
        precision: str = "auto",
        compile: bool = False,
        compile_backend: str = "inductor",
        verify: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.model, self.policy = model, policy
        self.loss_fn = get_loss(loss)
        self.autocast = autocast_for(device, precision)
        self.segment_fn = compiled_segment(model, compile_backend) if compile else model.segment
        self.verify = verify
        # The refinement-level rule goes only to models with an inner level (two_level runs the
        # segment level alone on the others).
        inner = "inner" in model.halting_levels
        self._inner = {mode: policy.inner_halt(mode) if inner else None for mode in (True, False)}

    def __call__(
        self,
        carry: Carry,
        batch: Batch,
        pstate: PolicyState,
        steps: torch.Tensor,
        *,
        training: bool,
        max_steps: int,
        generator: torch.Generator | None,
        rows: tuple[int, int] | None = None,
    ) -> SegmentStep:
        inner = self._inner[training]
        with self.autocast():
            carry, out = self.segment_fn(carry, batch, inner)
        carry = {k: v.detach() for k, v in carry.items()}
        lm_loss = self.loss_fn(out.logits, batch.labels)
        if out.aux_logits is not None:
            lm_loss = mix_aux_loss(lm_loss, self.loss_fn(out.aux_logits, batch.labels), out.aux_weight)
        predictions = out.logits.detach().argmax(-1)
        correct = exact_correct(predictions, batch.labels)
        steps = steps + 1

        next_output = next_lm_loss = None
        if training and self.policy.needs_lookahead:
            with torch.no_grad(), self.autocast():
                _, next_output = self.segment_fn(carry, batch, inner)
            with torch.no_grad():
                next_lm_loss = self.loss_fn(next_output.logits, batch.labels)
        ctx = HaltContext(
            inputs=batch.inputs,
            labels=batch.labels,
            predictions=predictions,
            lm_loss=lm_loss.detach(),
            correct=correct,
            steps=steps,
            max_steps=max_steps,
            training=training,
            generator=generator,
            next_output=next_output,
            next_lm_loss=next_lm_loss,
            verify=self.verify,
            rows=rows,
        )
        decision = self.policy.step(out, pstate, ctx)
        halt = decision.halt.to(torch.bool) | (steps >= max_steps)
        return SegmentStep(
            carry=carry,
            output=out,
            decision=decision,
            halt=halt,
            predictions=predictions,
            correct=correct,
            lm_loss=lm_loss,
            loss=segment_loss(lm_loss, decision),
            steps=steps,
        )
