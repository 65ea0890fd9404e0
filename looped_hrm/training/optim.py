"""Optimizers, the learning-rate schedule and the weight EMA, all in plain torch.

* `AdamAtan2` — the optimizer of the official HRM/TRM, written here in torch instead of the CUDA
  extension (whose build failures are the official repos' most reported issue). It follows the
  kernel exactly: ``a = b = 1``, no epsilon, decoupled weight decay::

      p <- p * (1 - lr * wd)
      m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
      p <- p - (lr / (1 - b1^t)) * atan2(m, sqrt(v / (1 - b2^t)))

  (The PyPI port ``adam-atan2-pytorch`` defaults to ``a = 1.27``; this is not that.)
* `SignSGD` — the puzzle-embedding update of the official code: on the rows a batch touched,
  ``p <- p * (1 - lr * wd) - lr * sign(grad)`` ("Adam ~ sign-SGD when gradients are very sparse").
* `lr_at` — linear warmup from 0, then constant or cosine down to ``lr_min_ratio * lr``.
* `dense_groups` — per-parameter learning-rate factors a model asks for (dt_net's official
  ``lr_throttle``: the recurrent block at ``lr / iterations``).
* `EMA` — ``shadow <- decay * shadow + (1 - decay) * p`` after every step (TRM, 0.999); evaluation
  swaps the shadow weights in.

Every update is a tensor op: no host synchronisation in the training loop.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterable, Iterator

import torch

from looped_hrm.contracts import ReasoningModel
from looped_hrm.training.config import TrainConfig


class AdamAtan2(torch.optim.Optimizer):
    """Adam with ``atan2`` in place of the division by ``sqrt(v) + eps`` (Everett et al., 2024)."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.95),
        weight_decay: float = 0.1,
    ) -> None:
        if lr < 0:
            raise ValueError(f"lr must be >= 0, got {lr}")
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
            by_step: dict[
                int, list[torch.nn.Parameter]
            ] = {}  # bias corrections differ only if some steps lacked a grad
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                by_step.setdefault(state["step"], []).append(p)
            for t, params in by_step.items():
                grads = [p.grad for p in params]
                ms = [self.state[p]["exp_avg"] for p in params]
                vs = [self.state[p]["exp_avg_sq"] for p in params]
                # multi-tensor kernels: a handful of launches per step whatever the number of tensors
                torch._foreach_mul_(params, 1 - lr * wd)
                torch._foreach_lerp_(ms, grads, 1 - b1)
                torch._foreach_mul_(vs, b2)
                torch._foreach_addcmul_(vs, grads, grads, value=1 - b2)
                denoms = torch._foreach_sqrt(vs)
                torch._foreach_div_(denoms, math.sqrt(1 - b2**t))
                for p, m, d in zip(params, ms, denoms):  # there is no multi-tensor atan2
                    p.add_(torch.atan2(m, d), alpha=-lr / (1 - b1**t))
        return loss


class SignSGD(torch.optim.Optimizer):
    """Sign-SGD with decoupled weight decay on the rows of the puzzle ids present in the batch, as
    the official sparse-embedding optimizer does: every such row is decayed and moved by
    ``-lr * sign(grad)`` — a row in the batch whose gradient is exactly zero is still decayed — and
    rows of ids not in the batch are left alone. Each parameter is a table indexed by puzzle id."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-2, weight_decay: float = 0.1) -> None:
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None, *, rows: torch.Tensor):  # type: ignore[override]
        """One update; ``rows`` are the puzzle ids of the batch (repeats allowed)."""
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                in_batch = torch.zeros(p.shape[0], dtype=torch.bool, device=p.device).index_fill_(0, rows, True)
                decay = torch.where(in_batch, 1 - lr * wd, 1.0).to(p.dtype)
                p.mul_(decay.view(-1, *([1] * (p.dim() - 1))))
                p.add_(torch.sign(grad), alpha=-lr)
        return None


def lr_at(step: int, cfg: TrainConfig, base_lr: float) -> float:
    """The learning rate of optimizer step ``step``, counted from 1 as the official code does (its
    ``train_state.step`` is incremented before the schedule is read): step 1 of a ``W``-step warmup
    gets ``base_lr / W``, step ``W`` the full rate; then constant or cosine (0 before any step)."""
    if step < cfg.warmup_steps:
        return base_lr * step / cfg.warmup_steps
    if cfg.schedule == "constant" or cfg.steps is None:
        return base_lr
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return base_lr * (cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def split_parameters(model: ReasoningModel) -> tuple[list[torch.nn.Parameter], list[torch.nn.Parameter]]:
    """(dense trainable parameters, puzzle-embedding parameters); the latter get sign-SGD, no EMA."""
    puzzle = [p for p in model.puzzle_embedding_parameters() if p.requires_grad]
    ids = {id(p) for p in puzzle}
    dense = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return dense, puzzle


def dense_groups(model: ReasoningModel, dense: list[torch.nn.Parameter]) -> list[dict[str, Any]]:
    """The dense parameters as optimizer groups: one, or, for a model with the optional
    ``lr_scales()`` (``[(factor, parameters), ...]``: those parameters learn at ``factor`` × the
    schedule's rate; dt_net's official ``lr_throttle``), the rest first and then one group per factor,
    each with its ``lr_scale`` (read by the trainer whenever it sets the rate)."""
    scales = getattr(model, "lr_scales", None)
    scaled = scales() if scales is not None else []
    if not scaled:
        return [{"params": dense}]
    trainable = {id(p) for p in dense}
    seen: set[int] = set()
    groups: list[dict[str, Any]] = []
    for factor, params in scaled:
        if not factor > 0:
            raise ValueError(f"lr_scales: a learning-rate factor must be > 0, got {factor}")
        params = [p for p in params if id(p) in trainable]
        if seen & {id(p) for p in params}:
            raise ValueError("lr_scales: a parameter is listed under two factors")
        seen.update(id(p) for p in params)
        groups.append({"params": params, "lr_scale": float(factor)})
    rest = [p for p in dense if id(p) not in seen]
    return [{"params": rest}, *groups] if rest else groups


def build_optimizers(model: ReasoningModel, cfg: TrainConfig, device: torch.device) -> dict[str, torch.optim.Optimizer]:
    """``{"dense": Adam-atan2 or AdamW, "puzzle": SignSGD}`` (the latter only if the model has puzzle
    embeddings). The dense optimizer's ``defaults["lr"]`` is ``cfg.lr``, the rate its schedule scales."""
    dense, puzzle = split_parameters(model)
    if not dense:
        raise ValueError("the model has no trainable parameters")
    groups = dense_groups(model, dense)
    if cfg.optimizer == "adam_atan2":
        main: torch.optim.Optimizer = AdamAtan2(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    else:
        main = torch.optim.AdamW(
            groups,
            lr=cfg.lr,
            betas=cfg.betas,
            eps=cfg.adam_eps,
            weight_decay=cfg.weight_decay,
            fused=device.type == "cuda",
        )
    optimizers = {"dense": main}
    if puzzle:
        optimizers["puzzle"] = SignSGD(puzzle, lr=cfg.puzzle_emb_lr, weight_decay=cfg.puzzle_emb_weight_decay)
    return optimizers


class EMA:
    """An exponential moving average of the dense trainable parameters."""

    def __init__(self, params: list[torch.nn.Parameter], decay: float) -> None:
        self.params = params
        self.decay = decay
        self.shadow = [p.detach().clone() for p in params]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1 - self.decay)

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        return {"shadow": self.shadow}

    def load_state_dict(self, state: dict[str, list[torch.Tensor]]) -> None:
        if len(state["shadow"]) != len(self.shadow):
            raise ValueError(f"EMA state has {len(state['shadow'])} tensors, the model {len(self.shadow)}")
        for s, saved in zip(self.shadow, state["shadow"]):
            s.copy_(saved)

    @contextlib.contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Within the block the model holds the EMA weights; its own weights come back after."""
        with torch.no_grad():
            backup = [p.detach().clone() for p in self.params]
            for p, s in zip(self.params, self.shadow):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, b in zip(self.params, backup):
                    p.copy_(b)
