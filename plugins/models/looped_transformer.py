"""The looped transformer (Yang et al. 2023, "Looped Transformers are Better at Learning Learning
Algorithms"): one weight-tied stack of blocks applied K times per segment with input injection,

    z_0 = 0,   z_t = stack(z_{t-1} + x)   (t = 1..K)

with gradient through the last ``grad_loops`` applications only (1, some k, or all), so training
memory is O(k) however many loops run. It has an inner (refinement) level: ``inner_halt`` can end
each example's burst of loops early — the lower level of the two-level adaptive-compute design —
and the segment level (the Q head, as every model here) decides whether to run another segment.
See `looped_hrm.nn.refinement` for how early stopping and gradient truncation combine.

The ``paper`` preset is sized like HRM's paper configuration: 4 shared blocks at hidden 512 looped
6 times (24 blocks per segment) with gradient through the last 2 loops (8 blocks) — HRM's
effective and gradient depth with half its parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm import hookimpl
from looped_hrm.contracts import Batch, Carry, ComputeProfile, InnerHalt, ModelSpec, SegmentOutput, TaskInfo
from looped_hrm.nn.blocks import Block, ReasoningModule
from looped_hrm.nn.flops import Flops
from looped_hrm.nn.reasoner import Reasoner
from looped_hrm.nn.refinement import State, refine, residual_norm
from looped_hrm.nn.sequence_io import BackboneConfig


@dataclass
class LoopedTransformerConfig(BackboneConfig):
    num_layers: int = 4  # blocks in the weight-tied stack
    loops: int = 6  # K: stack applications per segment (the most an inner burst may run)
    grad_loops: int | None = 2  # gradient through the last k loops (at most loops); None = all

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_layers", "loops"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.grad_loops is not None and self.grad_loops < 1:
            raise ValueError(f"grad_loops must be >= 1 or null (all loops), got {self.grad_loops}")

    @property
    def window(self) -> int:
        """Loops the gradient flows through (grad_loops, at most loops)."""
        return self.loops if self.grad_loops is None else min(self.grad_loops, self.loops)


class LoopedTransformer(Reasoner):
    config: LoopedTransformerConfig
    halting_levels = frozenset({"segment", "inner"})

    def __init__(self, config: LoopedTransformerConfig, task: TaskInfo) -> None:
        super().__init__(config, task)
        c = config
        self.stack = ReasoningModule(
            [Block(c.hidden_size, c.num_heads, c.expansion, c.rms_norm_eps) for _ in range(c.num_layers)]
        )

    def loop_flops(self, length: int | None = None) -> Flops:
        """One loop and its read-out at ``length`` task tokens (None: the training length)."""
        return self.stack.flops(self.io.positions_for(length or self.task.seq_len)) + self.io.head_flops(length)

    def initial_carry(self, batch: Batch) -> Carry:
        z = torch.zeros(
            len(batch),
            self.io.positions_for(batch.inputs.shape[1]),
            self.config.hidden_size,
            dtype=self.compute_dtype(batch.inputs.device),
            device=batch.inputs.device,
        )
        return {"z": z}

    def segment(self, carry: Carry, batch: Batch, inner_halt: InnerHalt | None = None) -> tuple[Carry, SegmentOutput]:
        length = batch.inputs.shape[1]
        x = self.io.embed(batch.inputs, batch.puzzle_ids, self.compute_dtype(batch.inputs.device))
        rope = self.io.rope(length)

        def loop(state: State, x: torch.Tensor) -> tuple[State, dict[str, torch.Tensor]]:
            z = self.stack(state["z"], x, rope)
            return {"z": z}, {"z": residual_norm(z, state["z"]).unsqueeze(1)}

        result = refine(
            loop,
            {"z": carry["z"]},
            x,
            max_steps=self.config.loops,
            grad_steps=self.config.grad_loops,
            readout=lambda state: self.readout(state["z"]),
            inner_halt=inner_halt,
        )
        z = result.state["z"]
        output = self.refined_output(z, result, self.loop_flops(length).forward, {"z": z}, length)
        return {"z": z.detach()}, output

    def compute_profile(self) -> ComputeProfile:
        c = self.config
        forward = c.loops * self.loop_flops() + self.io.head_flops()
        with_grad = c.window * self.stack.flops(self.io.seq_len) + self.io.head_flops()
        return ComputeProfile(
            trainable_params=self.trainable_params(),
            effective_depth=c.loops * c.num_layers,
            gradient_depth=c.window * c.num_layers,
            forward_flops=forward.forward,
            train_flops=forward.forward + with_grad.backward,
            inner_steps=c.loops,
            notes=(
                f"{c.num_layers} weight-tied blocks looped {c.loops}x per segment, gradient through the last "
                f"{c.window} loop(s); training with inner halting replays each row's last {c.window} loop(s) "
                "with gradient (extra forward compute not counted here)"
            ),
        )


PAPER = dict(hidden_size=512, num_heads=8, expansion=4.0, num_layers=4, loops=6, grad_loops=2, pos_encodings="rope")

SPEC = ModelSpec(
    name="looped_transformer",
    factory=LoopedTransformer,
    config=LoopedTransformerConfig,
    description="weight-tied block stack looped K times with input injection; gradient through the last k loops; inner halting",
    presets={
        # tiny/small apply as many blocks per segment as HRM's tiny/small (6 and 12), gradient through a third
        "tiny": dict(hidden_size=32, num_heads=2, num_layers=1, loops=6, grad_loops=2),
        "small": dict(hidden_size=64, num_heads=4, num_layers=2, loops=6, grad_loops=2),
        "paper": PAPER,
    },
)


@hookimpl
def looped_hrm_models() -> list[ModelSpec]:
    return [SPEC]
