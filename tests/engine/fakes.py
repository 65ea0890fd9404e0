"""Test doubles for the engine: a tiny task whose difficulty is the number of recurrent steps it
needs, and a tiny recurrent model implementing the ReasoningModel contract (Q head, optional inner
level). They train in about a second on one CPU thread, so engine tests do not depend on the real
plugins' speed.

**Broadcast task.** One position ``s`` of a length-``L`` string holds a value ``v`` in 1..V-1, the
others are blank (0); the answer is ``v`` at every position. The double's model only mixes
neighbouring positions (one position per update, no wrap-around), so an example needs
``distance = max(s, L-1-s)`` updates: the difficulty is exactly the compute it needs, which is what
an adaptive-compute test wants. The rule checker needs no label (all positions equal the given
value), so the verifier policy applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from looped_hrm.contracts import Batch, ComputeProfile, SegmentOutput, Split, TaskInfo


@dataclass
class BroadcastConfig:
    length: int = 8
    values: int = 4
    num_train: int = 96
    num_test: int = 64
    seed: int = 0


class BroadcastTask:
    name = "broadcast"
    label_free_verify = True

    def __init__(self, config: BroadcastConfig | None = None) -> None:
        self.config = config or BroadcastConfig()
        self.info = TaskInfo(vocab_size=self.config.values + 1, seq_len=self.config.length)
        nearest, farthest = self.config.length // 2, self.config.length - 1  # range of distances
        self.far_from = (nearest + farthest + 1) // 2  # distances from here on are the "far" bucket
        self.bucket_names = ("near", "far")
        self.builds = 0

    def build(self, split: str) -> Split:
        self.builds += 1
        cfg = self.config
        rng = np.random.default_rng(cfg.seed + (0 if split == "train" else 1))
        n = cfg.num_train if split == "train" else cfg.num_test
        pos = rng.integers(0, cfg.length, n)
        val = rng.integers(1, cfg.values + 1, n)
        inputs = np.zeros((n, cfg.length), dtype=np.int64)
        inputs[np.arange(n), pos] = val
        labels = np.repeat(val[:, None], cfg.length, axis=1)
        distance = np.maximum(pos, cfg.length - 1 - pos)
        return Split(
            inputs=torch.from_numpy(inputs),
            labels=torch.from_numpy(labels),
            puzzle_ids=torch.zeros(n, dtype=torch.int64),
            difficulty=torch.from_numpy(distance.astype(np.float32)),
            bucket=torch.from_numpy((distance >= self.far_from).astype(np.int64)),
        )

    def augment(self, inputs, labels, rng):
        return inputs, labels

    def verify(self, prediction, inputs, labels=None) -> bool:
        given = int(inputs[inputs != 0][0])
        return bool((prediction == given).all())

    def render(self, tokens) -> str:
        return "".join("." if t == 0 else str(int(t)) for t in tokens)


class TinyReasoner(nn.Module):
    """z <- rmsnorm(z + tanh(W [z_left, z, z_right, x])) ``updates`` times per segment.

    With ``inner_steps > 0`` the model has a refinement level instead: up to ``inner_steps``
    updates per segment, each followed by a halting logit; ``inner_halt`` ends a row's burst.
    ``nan_after`` makes the logits NaN from that training segment on (divergence tests).
    """

    def __init__(
        self, info: TaskInfo, hidden: int = 32, updates: int = 2, inner_steps: int = 0, puzzle_emb: bool = False
    ) -> None:
        super().__init__()
        self.info, self.hidden, self.updates, self.inner = info, hidden, updates, inner_steps
        self.halting_levels = frozenset({"segment", "inner"} if inner_steps else {"segment"})
        self.embed = nn.Embedding(info.vocab_size, hidden)
        self.mix = nn.Linear(4 * hidden, hidden)
        self.head = nn.Linear(hidden, info.vocab_size)
        self.q_head = nn.Linear(hidden, 2)
        self.inner_head = nn.Linear(hidden, 1)
        for head in (self.q_head, self.inner_head):
            nn.init.zeros_(head.weight)
            nn.init.constant_(head.bias, -5.0)  # HRM's start: halting improbable
        self.puzzle = nn.Parameter(torch.zeros(info.num_puzzle_ids, hidden)) if puzzle_emb else None
        self.register_buffer("z_init", torch.randn(hidden) * 0.5)
        self.nan_after: int | None = None
        self.segments_run = 0

    def initial_carry(self, batch: Batch) -> dict[str, torch.Tensor]:
        b, length = batch.inputs.shape
        return {"z": self.z_init.expand(b, length, self.hidden).clone()}

    def _update(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        left = F.pad(z[:, :-1], (0, 0, 1, 0))
        right = F.pad(z[:, 1:], (0, 0, 0, 1))
        z = z + torch.tanh(self.mix(torch.cat([left, z, right, x], -1)))
        return z * torch.rsqrt(z.pow(2).mean(-1, keepdim=True) + 1e-5)

    def segment(self, carry, batch: Batch, inner_halt=None):
        x = self.embed(batch.inputs)
        if self.puzzle is not None:
            x = x + self.puzzle[batch.puzzle_ids].unsqueeze(1)
        z = carry["z"]
        residuals = []
        b = z.shape[0]
        inner_logits, inner_preds = [], []
        steps = torch.zeros(b, dtype=torch.int64, device=z.device)
        if self.inner:
            active = torch.ones(b, dtype=torch.bool, device=z.device)
            for k in range(1, self.inner + 1):
                new = self._update(z, x)
                residuals.append((new - z).flatten(1).norm(dim=-1) * active)
                z = torch.where(active.view(-1, 1, 1), new, z)
                steps = steps + active.long()
                logit = self.inner_head(z.mean(1)).squeeze(-1)
                inner_logits.append(logit)
                inner_preds.append(self.head(z).argmax(-1).detach())
                if inner_halt is not None:
                    active = active & ~inner_halt(k, logit.detach())
        else:
            for _ in range(self.updates):
                new = self._update(z, x)
                residuals.append((new - z).flatten(1).norm(dim=-1))
                z = new
            steps = steps + self.updates
        logits = self.head(z)
        if self.training:
            self.segments_run += 1
            if self.nan_after is not None and self.segments_run > self.nan_after:
                logits = logits * float("nan")
        q = self.q_head(z.mean(1)).float()
        per_update = float(self._update_flops())
        out = SegmentOutput(
            logits=logits,
            q_halt=q[:, 0],
            q_continue=q[:, 1],
            inner_steps=steps,
            inner_halt_logits=torch.stack(inner_logits, 1) if self.inner else None,
            inner_preds=torch.stack(inner_preds, 1) if self.inner else None,
            flops=steps.float() * per_update,
            residuals={"z": torch.stack(residuals, 1).detach()},
            states={"z": z.detach()},
        )
        return {"z": z}, out

    def _update_flops(self) -> int:
        return 2 * self.info.seq_len * (4 * self.hidden * self.hidden + self.hidden * self.info.vocab_size)

    def compute_profile(self) -> ComputeProfile:
        params = sum(p.numel() for p in self.parameters() if p.requires_grad and p is not self.puzzle)
        steps = self.inner or self.updates
        return ComputeProfile(
            trainable_params=params,
            effective_depth=steps,
            gradient_depth=steps,
            forward_flops=float(steps * self._update_flops()),
            train_flops=float(3 * steps * self._update_flops()),
            inner_steps=self.inner,
        )

    def puzzle_embedding_parameters(self) -> list[nn.Parameter]:
        return [self.puzzle] if self.puzzle is not None else []
