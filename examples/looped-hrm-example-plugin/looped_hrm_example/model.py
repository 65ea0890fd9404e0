"""The `mixer` model: a tiny recurrent reasoner, small enough to read in one sitting.

The carry is one state vector per position, ``z [B, L, D]``. A segment applies ``updates`` times

    z = tanh(z + token_mix(z) + channel_mix(z) + embed(x))

where ``token_mix`` is a learned ``L x L`` matrix across positions (reversing a sequence needs every
position to read another one) and ``channel_mix`` a ``D x D`` linear. Logits come from a linear head
per position; the halting logits (``q_halt``, ``q_continue``) from the mean state, with the bias at
-5 as in HRM, so learned halting starts by running every segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from looped_hrm import hookimpl
from looped_hrm.contracts import Batch, Carry, ComputeProfile, ModelSpec, SegmentOutput, TaskInfo


@dataclass
class MixerConfig:
    hidden_size: int = 32
    updates: int = 2  # state updates per segment

    def __post_init__(self) -> None:
        if self.hidden_size < 1 or self.updates < 1:
            raise ValueError(f"hidden_size and updates must be >= 1, got {self.hidden_size}, {self.updates}")


class Mixer(nn.Module):
    halting_levels = frozenset({"segment"})

    def __init__(self, config: MixerConfig, task: TaskInfo) -> None:
        super().__init__()
        self.config, self.task = config, task
        d, length = config.hidden_size, task.seq_len
        self.embed = nn.Embedding(task.vocab_size, d)
        self.token_mix = nn.Parameter(torch.zeros(length, length))
        self.channel_mix = nn.Linear(d, d)
        self.head = nn.Linear(d, task.vocab_size)
        self.q_head = nn.Linear(d, 2)
        nn.init.zeros_(self.q_head.weight)
        nn.init.constant_(self.q_head.bias, -5.0)

    def initial_carry(self, batch: Batch) -> Carry:
        """Every example starts from a zero state."""
        n, length = batch.inputs.shape
        return {"z": torch.zeros(n, length, self.config.hidden_size, device=batch.inputs.device)}

    def segment(self, carry: Carry, batch: Batch, inner_halt=None) -> tuple[Carry, SegmentOutput]:
        """``updates`` state updates with the input injected each time; logits and halting logits after."""
        x, z = self.embed(batch.inputs), carry["z"]
        for _ in range(self.config.updates):
            z = torch.tanh(z + torch.einsum("ij,bjd->bid", self.token_mix, z) + self.channel_mix(z) + x)
        q = self.q_head(z.mean(1)).float()
        out = SegmentOutput(logits=self.head(z).float(), q_halt=q[:, 0], q_continue=q[:, 1])
        return {"z": z.detach()}, out

    def compute_profile(self) -> ComputeProfile:
        """Multiply-adds x 2 per example and segment; backward counted as twice the forward."""
        d, length, v = self.config.hidden_size, self.task.seq_len, self.task.vocab_size
        update = 2 * (length * length * d + length * d * d)
        forward = float(self.config.updates * update + 2 * length * d * v + 2 * d * 2)
        return ComputeProfile(
            trainable_params=sum(p.numel() for p in self.parameters()),
            effective_depth=self.config.updates,
            gradient_depth=self.config.updates,
            forward_flops=forward,
            train_flops=3 * forward,
        )

    def puzzle_embedding_parameters(self) -> list[nn.Parameter]:
        """No per-puzzle embeddings."""
        return []


@hookimpl
def looped_hrm_models() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="mixer",
            factory=Mixer,
            config=MixerConfig,
            description="tiny recurrent token/channel mixer (example third-party plugin)",
            presets={"tiny": {"hidden_size": 16}, "small": {"hidden_size": 64}},
        )
    ]
