"""HRM — the Hierarchical Reasoning Model (Wang et al. 2025, arXiv 2506.21734), as the official code runs it.

Two reasoning modules, a fast low level L and a slow high level H, each a stack of post-norm blocks
with input injection by addition. One segment runs ``H_cycles`` high-level steps, each preceded by
``L_cycles`` low-level steps::

    z_L <- L(z_L, z_H + x)      (L_cycles times)
    z_H <- H(z_H, z_L)          (then once)

Every update except the last L and the last H runs under ``torch.no_grad()``: the "one-step
gradient" the paper justifies with the implicit-function theorem, which keeps activation memory
independent of the number of cycles. The carry (z_H, z_L) is detached between segments; the
initial states are fixed truncated-normal vectors (buffers, not learned). Token logits come from
z_H, and so do the Q (halt / continue) logits, read at position 0.

The ``paper`` preset is the official Sudoku-Extreme configuration: 27,275,266 trainable parameters
at vocabulary 11 and 81 cells, 24 blocks per segment, gradient through 8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm import hookimpl
from looped_hrm.contracts import Batch, Carry, ComputeProfile, InnerHalt, ModelSpec, SegmentOutput, TaskInfo
from looped_hrm.nn.blocks import Block, ReasoningModule
from looped_hrm.nn.flops import Flops
from looped_hrm.nn.reasoner import Reasoner, init_state_vector
from looped_hrm.nn.refinement import residual_norm
from looped_hrm.nn.sequence_io import BackboneConfig


@dataclass
class HRMConfig(BackboneConfig):
    H_layers: int = 4
    L_layers: int = 4
    H_cycles: int = 2
    L_cycles: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("H_layers", "L_layers", "H_cycles", "L_cycles"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class HRM(Reasoner):
    config: HRMConfig
    H_init: torch.Tensor
    L_init: torch.Tensor
    halting_levels = frozenset({"segment"})

    def __init__(self, config: HRMConfig, task: TaskInfo) -> None:
        super().__init__(config, task)
        c = config

        def level(layers: int) -> ReasoningModule:
            return ReasoningModule(
                [Block(c.hidden_size, c.num_heads, c.expansion, c.rms_norm_eps) for _ in range(layers)]
            )

        self.H_level = level(c.H_layers)
        self.L_level = level(c.L_layers)
        self.register_buffer("H_init", init_state_vector(c.hidden_size))
        self.register_buffer("L_init", init_state_vector(c.hidden_size))

    def initial_carry(self, batch: Batch) -> Carry:
        return {"z_H": self.fixed_state(self.H_init, batch), "z_L": self.fixed_state(self.L_init, batch)}

    def segment(self, carry: Carry, batch: Batch, inner_halt: InnerHalt | None = None) -> tuple[Carry, SegmentOutput]:
        c = self.config
        length = batch.inputs.shape[1]
        x = self.io.embed(batch.inputs, batch.puzzle_ids, self.compute_dtype(batch.inputs.device))
        rope = self.io.rope(length)
        z_H, z_L = carry["z_H"], carry["z_L"]
        res_H, res_L = [], []

        def update_L(z_L: torch.Tensor, z_H: torch.Tensor) -> torch.Tensor:
            new = self.L_level(z_L, z_H + x, rope)
            res_L.append(residual_norm(new, z_L))
            return new

        def update_H(z_H: torch.Tensor, z_L: torch.Tensor) -> torch.Tensor:
            new = self.H_level(z_H, z_L, rope)
            res_H.append(residual_norm(new, z_H))
            return new

        with torch.no_grad():
            for h in range(c.H_cycles):
                last_h = h == c.H_cycles - 1
                for _ in range(c.L_cycles - 1 if last_h else c.L_cycles):
                    z_L = update_L(z_L, z_H)
                if not last_h:
                    z_H = update_H(z_H, z_L)
        # one-step gradient: only the last L update and the last H update are differentiated
        z_L = update_L(z_L, z_H)
        z_H = update_H(z_H, z_L)

        q = self.io.q_logits(z_H[:, 0])
        new_carry = {"z_H": z_H.detach(), "z_L": z_L.detach()}
        output = SegmentOutput(
            logits=self.io.logits(z_H),
            q_halt=q[:, 0],
            q_continue=q[:, 1],
            flops=torch.full((len(batch),), self._flops(length)[0].forward, device=x.device),
            residuals={"H": torch.stack(res_H, 1), "L": torch.stack(res_L, 1)},
            states={"H": new_carry["z_H"], "L": new_carry["z_L"]},
        )
        return new_carry, output

    def _flops(self, length: int | None = None) -> tuple[Flops, Flops]:
        """Forward FLOPs of one segment, and of the part the gradient flows through (per example), at
        ``length`` task tokens (None: the training length)."""
        c, seq = self.config, self.io.positions_for(length or self.task.seq_len)
        L_call, H_call, heads = self.L_level.flops(seq), self.H_level.flops(seq), self.io.head_flops(length)
        return (c.H_cycles * c.L_cycles) * L_call + c.H_cycles * H_call + heads, L_call + H_call + heads

    def compute_profile(self) -> ComputeProfile:
        c = self.config
        forward, with_grad = self._flops()
        return ComputeProfile(
            trainable_params=self.trainable_params(),
            effective_depth=c.H_cycles * c.L_cycles * c.L_layers + c.H_cycles * c.H_layers,
            gradient_depth=c.L_layers + c.H_layers,
            forward_flops=forward.forward,
            train_flops=forward.forward + with_grad.backward,
            notes=(
                f"one-step gradient: {c.H_cycles}x{c.L_cycles} L updates and {c.H_cycles} H updates per segment, "
                "backward through the last L and H update only; the act_q policy's Q-continue target adds "
                "one more no-grad segment forward per training step"
            ),
        )


PAPER = dict(
    hidden_size=512, num_heads=8, expansion=4.0, H_layers=4, L_layers=4, H_cycles=2, L_cycles=2, pos_encodings="rope"
)

SPEC = ModelSpec(
    name="hrm",
    factory=HRM,
    config=HRMConfig,
    description="Hierarchical Reasoning Model: H/L modules, one-step gradient, Q head (faithful to sapientinc/HRM)",
    default_halting="act_q",  # Q-learning of halt and continue, as the official code trains it
    presets={
        "tiny": dict(hidden_size=32, num_heads=2, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2),
        "small": dict(hidden_size=64, num_heads=4, H_layers=2, L_layers=2, H_cycles=2, L_cycles=2),
        "paper": PAPER,
    },
)


@hookimpl
def looped_hrm_models() -> list[ModelSpec]:
    return [SPEC]
