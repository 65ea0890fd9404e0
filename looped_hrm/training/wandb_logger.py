"""Optional Weights & Biases logging (``pip install 'looped-hrm[wandb]'``), beside TensorBoard.

Both official codes (HRM, TRM) log to wandb, so a researcher comparing against them wants the same
curves there. Asked for with ``--wandb PROJECT`` on the benchmark runner (or ``LOOPED_HRM_WANDB=PROJECT``
in the environment of any command that runs one: ``run``, ``train``, ``eval``; the command reads it and
hands the project to its workers as an argument): every training log window (loss, accuracy, segments, policy
metrics, quick evaluations) is logged at its step, and the final evaluation metrics go to the run's
summary. One wandb run per combination, its id the combination's key, so an interrupted run that
resumes continues the same wandb run. ``WANDB_MODE=offline`` writes it under the work folder
without any network (``wandb sync`` uploads it later).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

ENV_PROJECT = "LOOPED_HRM_WANDB"


def wandb_project() -> str | None:
    """The project named by ``LOOPED_HRM_WANDB`` (None: wandb logging off)."""
    return os.environ.get(ENV_PROJECT) or None


class WandbLogger:
    """One wandb run: `log` scalars at a step, `summary` for final metrics, `finish` at the end."""

    def __init__(self, project: str, *, run_id: str, name: str, config: Mapping[str, Any], workdir: str | Path) -> None:
        try:
            import wandb
        except ImportError as exc:
            raise RuntimeError(
                f"{ENV_PROJECT}={project}: wandb is not installed (pip install 'looped-hrm[wandb]')"
            ) from exc
        Path(workdir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=project,
            id=run_id,
            name=name,
            config=dict(config),
            dir=str(workdir),
            resume="allow",
            reinit="finish_previous",
        )

    def log(self, scalars: Mapping[str, Any], step: int) -> None:
        self.run.log(
            {k: v for k, v in scalars.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}, step=step
        )

    def summary(self, metrics: Mapping[str, Any]) -> None:
        self.run.summary.update({k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))})

    def finish(self) -> None:
        self.run.finish()
