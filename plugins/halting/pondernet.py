"""``pondernet``: PonderNet (Banino et al., arXiv 2107.05407), adapted to segments.

Per segment ``n`` the halting head gives ``lambda_n = sigmoid(q_halt)``, the probability of halting
at ``n`` given that ``n`` was reached; ``lambda`` is forced to 1 at the last segment. The
unconditional halting distribution is ``p_n = lambda_n * S_n`` with the survival
``S_n = prod_{j<n} (1 - lambda_j)``, carried (detached) in the PolicyState as ``survive``.

Loss, the paper's ``sum_n p_n L_n + beta * KL(p || p_G)``, split over the segments that each take
their own optimizer step:

* reconstruction: ``stopgrad(p_n) * L_n`` trains the network (``task_weighting="expected"``, the
  paper; ``"uniform"`` gives every segment weight 1 instead, as plain deep supervision does): the
  engine adds this task term, weighted by ``HaltDecision.task_weight = p_n``;
* halting credit: ``lambda_n * stopgrad(S_n * (L_n - L_{n+1}))``: the gradient of the expected loss
  with respect to ``lambda_n`` is ``S_n * (L_n - E[L | continue])``; the unknown future is
  approximated by the next segment's loss from the engine's no-grad lookahead
  (``HaltContext.next_lm_loss``; training only);
* KL, **direction KL(p || p_G)** (the paper's; note labml's ``KLDivLoss(p.log(), p_G)`` computes the
  reverse): for stopping processes it decomposes exactly by the chain rule into
  ``sum_n S_n * KL(Bernoulli(lambda_n) || Bernoulli(g_n))`` where ``g_n`` is the hazard of the prior
  — for the geometric prior truncated at ``max_steps`` and renormalised,
  ``g_n = lambda_p / (1 - (1 - lambda_p)^(max_steps - n + 1))`` (1 at the last step). Each
  segment adds its own term, with gradient to ``lambda_n`` (the effect of ``lambda_n`` on later
  survivals is dropped, as for the credit term).

Decisions: in training every example runs all segments (the paper unrolls to the maximum); in
evaluation an example halts by sampling ``Bernoulli(lambda_n)`` (``eval_rule="sample"``, the paper)
or once its cumulative halting probability reaches 1/2 (``"median"``, deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from looped_hrm.contracts import HaltContext, HaltDecision, HaltingSpec, PolicyState, SegmentOutput
from looped_hrm.plugins.halting.base import PolicyBase, last_step, require_q_halt

_EPS = 1e-6


@dataclass
class PonderNetConfig:
    lambda_p: float = 0.2  # geometric prior's halting probability per segment (expected 1/lambda_p segments)
    beta: float = 0.01  # weight of the KL regulariser
    task_weighting: Literal["expected", "uniform"] = "expected"  # p_n-weighted task loss (paper) or weight 1
    eval_rule: Literal["sample", "median"] = "sample"

    def __post_init__(self) -> None:
        if not 0 < self.lambda_p < 1:
            raise ValueError(f"lambda_p must be in (0, 1), got {self.lambda_p}")
        if self.beta < 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")


def bernoulli_kl(q: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """KL(Bernoulli(q) || Bernoulli(g)), elementwise."""
    q = q.clamp(_EPS, 1 - _EPS)
    g = g.clamp(_EPS, 1 - _EPS)
    return q * (q.log() - g.log()) + (1 - q) * (torch.log1p(-q) - torch.log1p(-g))


def prior_hazard(steps: torch.Tensor, max_steps: int, lambda_p: float) -> torch.Tensor:
    """Hazard of the geometric prior truncated at ``max_steps`` and renormalised, at ``steps`` (1-based)."""
    remaining = (max_steps - steps + 1).clamp_min(1).to(torch.float32)
    return lambda_p / (1 - (1 - lambda_p) ** remaining)


class PonderNetPolicy(PolicyBase):
    name = "pondernet"
    levels = frozenset({"segment"})
    needs_q_head = True
    needs_lookahead = True

    def __init__(self, config: PonderNetConfig | None = None) -> None:
        self.config = config or PonderNetConfig()

    def init_state(self, batch_size: int, device: torch.device) -> PolicyState:
        return {"survive": torch.ones(batch_size, device=device)}

    def step(self, output: SegmentOutput, state: PolicyState, ctx: HaltContext) -> HaltDecision:
        lam = torch.sigmoid(require_q_halt(output, self.name))
        last = last_step(ctx)
        survive = state["survive"]
        lam_eff = torch.where(last, torch.ones_like(lam), lam)
        p = survive * lam_eff.detach()

        # reconstruction: the engine weights its task loss by p (detached) or by 1
        task_weight = p if self.config.task_weighting == "expected" else None

        credit = torch.zeros_like(lam)
        if ctx.next_lm_loss is not None:
            credit = lam * (survive * (ctx.lm_loss - ctx.next_lm_loss))
        kl = survive * bernoulli_kl(lam, prior_hazard(ctx.steps, ctx.max_steps, self.config.lambda_p))
        not_last = ~last
        loss = (credit * not_last).sum() + self.config.beta * (kl * not_last).sum()

        if ctx.training:
            halt = torch.zeros_like(last)
        elif self.config.eval_rule == "sample":
            halt = torch.rand(lam.shape, generator=ctx.generator, device=lam.device) < lam.detach()
        else:
            halt = 1 - survive * (1 - lam.detach()) >= 0.5
        metrics = {"kl": (kl.detach() * not_last).sum(), "halt_prob": lam.detach().sum()}
        return HaltDecision(
            halt=halt,
            loss=loss,
            task_weight=task_weight,
            state={"survive": survive * (1 - lam.detach())},
            metrics=metrics,
        )


SPEC = HaltingSpec(
    name="pondernet",
    factory=PonderNetPolicy,
    config=PonderNetConfig,
    description="PonderNet: halting distribution p_n = lambda_n * prod(1-lambda_j), expected loss + beta*KL(p||geometric)",
    presets={"deterministic": {"eval_rule": "median"}},
)
