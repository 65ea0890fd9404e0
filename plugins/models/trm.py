"""TRM — the Tiny Recursive Model (Jolicoeur-Martineau 2025, arXiv 2510.04871), as the official code runs it.

One small network (2 blocks) refines a latent z and an answer y. One recursion cycle is::

    z <- net(z, y + x)   (L_cycles = n times: the latent sees the input and the current answer)
    y <- net(y, z)       (once: the answer is rewritten from the latent, without the input)

A segment runs ``H_cycles`` = T cycles, the first T − 1 without gradient and the last with full
backpropagation through its n + 1 network calls. y is the official ``z_H`` (logits and the Q head
read it; the Q head at position 0, the first of 16 prefix positions), z is ``z_L``. Both start
from fixed truncated-normal vectors (buffers).

Variants: ``mixer="attention"`` (TRM-Att) or ``mixer="mlp"`` (TRM-MLP: a SwiGLU across the
sequence replaces attention; it needs a fixed sequence length, fine for Sudoku grids). The
``paper`` preset is the published Sudoku-Extreme TRM-MLP (5,028,866 parameters at vocabulary 11 and
81 cells), ``paper_att`` the attention variant (6,828,034). EMA of the weights (0.999) is a
*training* option of the engine, not part of the model.

Inner level: a refinement step is one recursion cycle, so ``inner_halt`` may end an example's burst
after any cycle (the Q head's halt logit after each cycle is the inner halting logit); gradient still
flows through each example's last cycle (see `looped_hrm.nn.refinement`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from looped_hrm import hookimpl
from looped_hrm.contracts import Batch, Carry, ComputeProfile, InnerHalt, ModelSpec, SegmentOutput, TaskInfo
from looped_hrm.nn.blocks import Block, Mixer, ReasoningModule
from looped_hrm.nn.flops import Flops
from looped_hrm.nn.reasoner import Reasoner, init_state_vector
from looped_hrm.nn.refinement import State, refine, residual_norm
from looped_hrm.nn.sequence_io import BackboneConfig

GRAD_CYCLES = 1  # TRM backpropagates through the last recursion cycle only


@dataclass
class TRMConfig(BackboneConfig):
    num_layers: int = 2  # blocks in the one network (the official L_layers)
    H_cycles: int = 3  # T: recursion cycles per segment
    L_cycles: int = 6  # n: latent updates per cycle
    mixer: Mixer = "attention"  # "mlp": TRM-MLP token mixing across the (fixed-length) sequence
    puzzle_emb_len: int | None = 16  # the official TRM always prepends 16 positions

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_layers", "H_cycles", "L_cycles"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class TRM(Reasoner):
    config: TRMConfig
    y_init: torch.Tensor
    z_init: torch.Tensor
    halting_levels = frozenset({"segment", "inner"})

    def __init__(self, config: TRMConfig, task: TaskInfo) -> None:
        super().__init__(config, task)
        c = config
        self.net = ReasoningModule(
            [
                Block(c.hidden_size, c.num_heads, c.expansion, c.rms_norm_eps, mixer=c.mixer, seq_len=self.io.seq_len)
                for _ in range(c.num_layers)
            ]
        )
        self.register_buffer("y_init", init_state_vector(c.hidden_size))
        self.register_buffer("z_init", init_state_vector(c.hidden_size))

    def cycle_flops(self, length: int | None = None) -> Flops:
        """One recursion cycle and its read-out at ``length`` task tokens (None: the training length)."""
        net = self.net.flops(self.io.positions_for(length or self.task.seq_len))
        return (self.config.L_cycles + 1) * net + self.io.head_flops(length)

    def length_problem(self, length: int) -> str | None:
        if self.config.mixer == "mlp" and length != self.task.seq_len:
            return (
                f"TRM-MLP's token-mixing MLP is sized for the training length ({self.task.seq_len} tokens), "
                f"not {length} (mixer: attention runs at any length)"
            )
        return super().length_problem(length)

    def initial_carry(self, batch: Batch) -> Carry:
        return {"y": self.fixed_state(self.y_init, batch), "z": self.fixed_state(self.z_init, batch)}

    def segment(self, carry: Carry, batch: Batch, inner_halt: InnerHalt | None = None) -> tuple[Carry, SegmentOutput]:
        length = batch.inputs.shape[1]
        problem = self.length_problem(length)
        if problem:
            raise ValueError(problem)
        x = self.io.embed(batch.inputs, batch.puzzle_ids, self.compute_dtype(batch.inputs.device))
        rope = self.io.rope(length)

        def cycle(state: State, x: torch.Tensor) -> tuple[State, dict[str, torch.Tensor]]:
            y, z = state["y"], state["z"]
            res_z = []
            for _ in range(self.config.L_cycles):
                new = self.net(z, y + x, rope)
                res_z.append(residual_norm(new, z))
                z = new
            new_y = self.net(y, z, rope)
            return {"y": new_y, "z": z}, {"z": torch.stack(res_z, 1), "y": residual_norm(new_y, y).unsqueeze(1)}

        result = refine(
            cycle,
            {"y": carry["y"], "z": carry["z"]},
            x,
            max_steps=self.config.H_cycles,
            grad_steps=GRAD_CYCLES,
            readout=lambda state: self.readout(state["y"]),
            inner_halt=inner_halt,
        )
        state = result.state
        output = self.refined_output(state["y"], result, self.cycle_flops(length).forward, state, length)
        return {k: v.detach() for k, v in state.items()}, output

    def compute_profile(self) -> ComputeProfile:
        c = self.config
        net = self.net.flops(self.io.seq_len)
        forward = c.H_cycles * self.cycle_flops() + self.io.head_flops()
        with_grad = GRAD_CYCLES * (c.L_cycles + 1) * net + self.io.head_flops()
        return ComputeProfile(
            trainable_params=self.trainable_params(),
            effective_depth=c.H_cycles * (c.L_cycles + 1) * c.num_layers,
            gradient_depth=GRAD_CYCLES * (c.L_cycles + 1) * c.num_layers,
            forward_flops=forward.forward,
            train_flops=forward.forward + with_grad.backward,
            inner_steps=c.H_cycles,
            notes=(
                f"TRM-{'MLP' if c.mixer == 'mlp' else 'Att'}: {c.H_cycles} cycles x ({c.L_cycles} z + 1 y updates) of a "
                f"{c.num_layers}-block net per segment, full backprop through the last cycle; EMA is a training option"
            ),
        )


PAPER_ATT = dict(
    hidden_size=512,
    num_heads=8,
    expansion=4.0,
    num_layers=2,
    H_cycles=3,
    L_cycles=6,
    mixer="attention",
    pos_encodings="rope",
    puzzle_emb_len=16,
)

SPEC = ModelSpec(
    name="trm",
    factory=TRM,
    config=TRMConfig,
    description="Tiny Recursive Model: one 2-block net updating latent z and answer y; attention or MLP token mixing",
    default_halting="act_bce",  # TRM trains its halt logit by BCE and no continue logit (no_ACT_continue)
    presets={
        # tiny/small apply as many blocks per segment as HRM's tiny/small (6 and 12)
        "tiny": dict(hidden_size=32, num_heads=2, num_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_len=1),
        "small": dict(hidden_size=64, num_heads=4, num_layers=2, H_cycles=2, L_cycles=2, puzzle_emb_len=1),
        "paper": {**PAPER_ATT, "mixer": "mlp", "pos_encodings": "none"},  # the published Sudoku-Extreme TRM-MLP
        "paper_att": PAPER_ATT,
    },
)


@hookimpl
def looped_hrm_models() -> list[ModelSpec]:
    return [SPEC]
