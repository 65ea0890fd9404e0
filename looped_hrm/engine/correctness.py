"""Per-example correctness, the same for the training loop, the halting context and evaluation.

* ``exact`` — every scored token (label != `IGNORE_INDEX`) equals the label (HRM's ``exact_accuracy``);
* ``token accuracy`` — the fraction of scored tokens right;
* the label-free verifier — `Task.verify` run without the label, for policies that halt on "the
  rules accept this answer" (only for tasks that declare ``label_free_verify``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from looped_hrm.contracts import IGNORE_INDEX, Task


def exact_correct(predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[B]`` bool: all scored tokens right."""
    return ((predictions == labels) | (labels == IGNORE_INDEX)).all(-1)


def token_accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``[B]`` float: fraction of scored tokens right (0 for a row with none scored)."""
    scored = labels != IGNORE_INDEX
    return ((predictions == labels) & scored).sum(-1).float() / scored.sum(-1).clamp_min(1).float()


def label_free_verifier(task: Task) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
    """``HaltContext.verify`` for a task whose rule checker needs no label, else None."""
    if not task.label_free_verify:
        return None

    def verify(predictions: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        preds, ins = predictions.detach().cpu().numpy(), inputs.detach().cpu().numpy()
        ok = np.fromiter((bool(task.verify(p, x, None)) for p, x in zip(preds, ins)), dtype=bool, count=len(preds))
        return torch.from_numpy(ok).to(predictions.device)

    return verify
