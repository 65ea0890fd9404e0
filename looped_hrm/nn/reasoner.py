"""`Reasoner`: the part of the ReasoningModel contract every built-in model implements the same way.

A subclass builds its reasoning core in ``__init__`` and implements ``initial_carry``, ``segment``
and ``compute_profile``; the shared I/O (`SequenceIO`), the compute dtype, the puzzle-embedding
parameters and the trainable-parameter count live here.
"""

from __future__ import annotations

import torch
from torch import nn

from looped_hrm.contracts import Batch, SegmentOutput, TaskInfo
from looped_hrm.nn.init import trunc_normal_
from looped_hrm.nn.layers import resolve_dtype
from looped_hrm.nn.refinement import Refinement
from looped_hrm.nn.sequence_io import BackboneConfig, SequenceIO


class Reasoner(nn.Module):
    """Base class of the built-in models (a ``torch.nn.Module`` implementing ReasoningModel).

    A model without an inner level accepts ``inner_halt`` and never calls it: policies such as
    ``two_level`` then drive the segment level only, as the engine expects.
    """

    halting_levels: frozenset[str] = frozenset({"segment"})

    def __init__(self, config: BackboneConfig, task: TaskInfo) -> None:
        super().__init__()
        self.config = config
        self.task = task
        self.io = SequenceIO(config, task)

    def compute_dtype(self, device: torch.device) -> torch.dtype:
        return resolve_dtype(self.config.forward_dtype, device)

    def puzzle_embedding_parameters(self) -> list[nn.Parameter]:
        return self.io.puzzle_parameters()

    def trainable_params(self) -> int:
        """Trainable parameters, puzzle embedding excluded (the official count treats it as a buffer)."""
        puzzle = {id(p) for p in self.puzzle_embedding_parameters()}
        return sum(p.numel() for p in self.parameters() if p.requires_grad and id(p) not in puzzle)

    def length_problem(self, length: int) -> str | None:
        """Why this model cannot run sequences of ``length`` task tokens (None: it can)."""
        return self.io.length_problem(length)

    def fixed_state(self, vector: torch.Tensor, batch: Batch) -> torch.Tensor:
        """``vector`` [hidden] broadcast to a ``[B, positions, hidden]`` state for ``batch`` in the compute dtype."""
        device = batch.inputs.device
        dtype = self.compute_dtype(device)
        positions = self.io.positions_for(batch.inputs.shape[1])
        return vector.to(device=device, dtype=dtype).expand(len(batch), positions, -1).contiguous()

    def readout(self, answer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """What `refine` records after each step: position-0 feature, halt logit, argmax prediction."""
        feature = answer[:, 0]
        return feature, self.io.q_logits(feature)[:, 0], self.io.logits(answer).argmax(-1)

    def refined_output(
        self, answer: torch.Tensor, result: Refinement, step_flops: float, states: dict[str, torch.Tensor], length: int
    ) -> SegmentOutput:
        """The SegmentOutput of a model with an inner level, from its answer state and `refine`'s record
        (``step_flops``: one step's forward FLOPs at the batch's ``length`` task tokens).

        The inner halting logits are the Q head's halt logit read after every step. They are
        recomputed here from the recorded (detached) features so that a halting loss on them trains
        the Q head, while the states of steps run without gradient stay untouched.
        """
        q = self.io.q_logits(answer[:, 0])
        return SegmentOutput(
            logits=self.io.logits(answer),
            q_halt=q[:, 0],
            q_continue=q[:, 1],
            inner_steps=result.steps,
            inner_halt_logits=self.io.q_logits(result.features)[..., 0],
            inner_preds=result.predictions,
            flops=result.steps.float() * step_flops + self.io.head_flops(length).forward,
            residuals=result.residuals,
            states={k: v.detach() for k, v in states.items()},
        )


def init_state_vector(hidden: int) -> torch.Tensor:
    """A fixed initial-state vector: truncated normal with std 1 (kept as a buffer, never trained)."""
    return trunc_normal_(torch.empty(hidden), std=1.0)
