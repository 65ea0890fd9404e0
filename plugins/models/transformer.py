"""The plain transformer baseline: the same post-norm blocks as HRM, one forward pass, no recurrence.

Each segment maps the input to logits with ``num_layers`` blocks and keeps no state between
segments (the carry is empty), so under a multi-segment halting policy it is still deep-supervised —
the ARC Prize ablation's point that the outer loop, not the H/L hierarchy, carries much of HRM's
gain is tested by running this model with ``fixed`` at 1 segment versus more.

Presets say what they match against HRM's ``paper`` configuration: ``param_matched`` (= ``paper``)
has HRM's 8 blocks of weights (the same 27,275,266 parameters on Sudoku), ``depth_matched`` applies
as many blocks per segment as HRM does (24).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm import hookimpl
from looped_hrm.contracts import Batch, Carry, ComputeProfile, InnerHalt, ModelSpec, SegmentOutput, TaskInfo
from looped_hrm.nn.blocks import Block, ReasoningModule
from looped_hrm.nn.flops import Flops
from looped_hrm.nn.reasoner import Reasoner
from looped_hrm.nn.sequence_io import BackboneConfig

HRM_PAPER_WEIGHT_BLOCKS = 8  # H_layers + L_layers of the official HRM
HRM_PAPER_DEPTH = 24  # blocks HRM applies per segment: (2x2 L calls + 2 H calls) x 4 layers


@dataclass
class TransformerConfig(BackboneConfig):
    num_layers: int = HRM_PAPER_WEIGHT_BLOCKS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")


class Transformer(Reasoner):
    config: TransformerConfig
    halting_levels = frozenset({"segment"})

    def __init__(self, config: TransformerConfig, task: TaskInfo) -> None:
        super().__init__(config, task)
        c = config
        self.stack = ReasoningModule(
            [Block(c.hidden_size, c.num_heads, c.expansion, c.rms_norm_eps) for _ in range(c.num_layers)]
        )

    def initial_carry(self, batch: Batch) -> Carry:
        return {}  # no recurrent state: every segment starts from the input

    def segment(self, carry: Carry, batch: Batch, inner_halt: InnerHalt | None = None) -> tuple[Carry, SegmentOutput]:
        length = batch.inputs.shape[1]
        x = self.io.embed(batch.inputs, batch.puzzle_ids, self.compute_dtype(batch.inputs.device))
        z = self.stack(x, None, self.io.rope(length))
        q = self.io.q_logits(z[:, 0])
        return {}, SegmentOutput(
            logits=self.io.logits(z),
            q_halt=q[:, 0],
            q_continue=q[:, 1],
            flops=torch.full((len(batch),), self._flops(length).forward, device=x.device),
            states={"z": z.detach()},
        )

    def _flops(self, length: int | None = None) -> Flops:
        """One pass at ``length`` task tokens (None: the training length)."""
        return self.stack.flops(self.io.positions_for(length or self.task.seq_len)) + self.io.head_flops(length)

    def compute_profile(self) -> ComputeProfile:
        c = self.config
        flops = self._flops()
        matches = {
            HRM_PAPER_WEIGHT_BLOCKS: "matches HRM paper's parameters (8 blocks of weights)",
            HRM_PAPER_DEPTH: "matches HRM paper's depth (24 blocks applied per segment)",
        }
        match = matches.get(c.num_layers) if c.hidden_size == 512 else None
        return ComputeProfile(
            trainable_params=self.trainable_params(),
            effective_depth=c.num_layers,
            gradient_depth=c.num_layers,
            forward_flops=flops.forward,
            train_flops=flops.forward + flops.backward,
            notes=f"plain transformer: one pass of {c.num_layers} blocks per segment, no carry"
            + (f"; {match}" if match else ""),
        )


PAPER = dict(hidden_size=512, num_heads=8, expansion=4.0, num_layers=HRM_PAPER_WEIGHT_BLOCKS, pos_encodings="rope")

SPEC = ModelSpec(
    name="transformer",
    aliases=("baseline",),
    factory=Transformer,
    config=TransformerConfig,
    description="plain post-norm transformer baseline: same blocks as HRM, one pass per segment, no recurrence",
    presets={
        "tiny": dict(hidden_size=32, num_heads=2, num_layers=2),  # HRM tiny's weights: 1 H + 1 L block
        "small": dict(hidden_size=64, num_heads=4, num_layers=4),  # HRM small's weights: 2 H + 2 L blocks
        "paper": PAPER,
        "param_matched": PAPER,
        "depth_matched": {**PAPER, "num_layers": HRM_PAPER_DEPTH},
    },
)


@hookimpl
def looped_hrm_models() -> list[ModelSpec]:
    return [SPEC]
