"""TrainConfig: every knob of a training run, typed and documented, validated by `looped_hrm.config.build`.

Defaults follow the official HRM/TRM recipe where it has one (Adam-atan2, betas (0.9, 0.95),
weight decay 0.1, constant LR after a linear warmup, stablemax loss, 16 segments, sign-SGD puzzle
embeddings at 1e-2) and are scaled down where it only makes sense on a cluster (batch 768 and 2000
warmup steps become 32 and 0, so a CPU test run is sensible by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from looped_hrm.evaluation.config import MAX_EVAL_SEGMENTS

# Fields that may change between a checkpoint and its resumption: budgets, logging and speed flags
# (more steps to continue a finished run, a different log cadence). Everything else must match.
RESUMABLE_FIELDS = frozenset(
    {
        "steps",
        "epochs",
        "time_budget_s",
        "flops_budget",
        "log_every",
        "checkpoint_every",
        "eval_interval",
        "curve_fractions",
        "compile",
        "compile_backend",
        "tensorboard",
        "progress",
    }
)


@dataclass
class TrainConfig:
    # --- budget: training stops at the first one reached (at least one must be set)
    steps: int | None = None  # optimizer steps; one step = one segment of one batch (deep supervision)
    epochs: int | None = None  # passes in which every training example enters a slot and runs until it halts
    time_budget_s: float | None = None  # wall-clock seconds of training (for same-time comparisons)
    flops_budget: float | None = None  # training FLOPs (forward + backward, + ACT's lookahead forward): give
    #   every model of a benchmark the same value and `steps: null` for an equal-compute comparison

    # --- batch and segments
    batch_size: int = 32  # slots of the ACT carry; the loss is divided by it (HRM's global_batch_size)
    max_segments: int = 16  # segments after which every example stops (HRM's halt_max_steps)
    loss: Literal["stablemax", "softmax"] = "stablemax"  # unset: the model's own (ModelSpec.default_loss)

    # --- optimizer
    optimizer: Literal["adam_atan2", "adamw"] = "adam_atan2"  # plain-torch Adam-atan2 (a=b=1, no eps) or AdamW
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1  # decoupled (AdamW-style), on every trainable parameter
    adam_eps: float = 1e-8  # AdamW only; Adam-atan2 has no epsilon
    warmup_steps: int = 0  # linear warmup from 0 (the official recipe: 2000)
    schedule: Literal["constant", "cosine"] = "constant"  # after warmup; cosine needs `steps`
    lr_min_ratio: float = 0.1  # cosine floor as a fraction of lr
    grad_clip: float | None = None  # clip the global gradient norm of the dense parameters (None: off)
    puzzle_emb_lr: float = 1e-2  # sign-SGD on model.puzzle_embedding_parameters(), same schedule
    puzzle_emb_weight_decay: float = 0.1
    ema: bool = False  # keep an exponential moving average of the weights; evaluation uses it (TRM)
    ema_decay: float = 0.999
    init_from: str | None = None  # start from a checkpoint of the official HRM/TRM code (training/official.py)

    # --- speed and precision
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast on CUDA, fp32 elsewhere
    compile: bool = (
        False  # torch.compile the model's segment (one graph with, one without gradient: looped_hrm.engine.compiled)
    )
    compile_backend: str = (
        "inductor"  # torch.compile backend; "eager"/"aot_eager" check capture without code generation
    )

    # --- bookkeeping
    log_every: int = 50  # steps between host synchronisations: progress bar, NaN check, budget checks
    checkpoint_every: int | None = None  # steps between checkpoints (None: only at the end)
    eval_interval: int | None = None  # steps between quick evaluations during training (None: off)
    eval_examples: int = 256  # test examples used by those quick evaluations
    curve_fractions: list[float] = field(default_factory=lambda: [0.125, 0.25, 0.5, 0.75])  # learning curve:
    #   evaluate the test split (policy-halted) when this share of the budget is spent; the final evaluation
    #   is the point at 1. Empty: no curve.
    tensorboard: bool = False  # write scalars to <workdir>/tensorboard (needs the tensorboard package)
    progress: bool = True  # show a tqdm bar (run_experiment's `progress` argument can turn it off)

    def __post_init__(self) -> None:
        if self.steps is None and self.epochs is None and self.time_budget_s is None and self.flops_budget is None:
            raise ValueError("set a training budget: steps, epochs, time_budget_s or flops_budget")
        positive = {
            "steps": self.steps,
            "epochs": self.epochs,
            "time_budget_s": self.time_budget_s,
            "flops_budget": self.flops_budget,
            "batch_size": self.batch_size,
            "max_segments": self.max_segments,
            "log_every": self.log_every,
            "checkpoint_every": self.checkpoint_every,
            "eval_interval": self.eval_interval,
            "eval_examples": self.eval_examples,
        }
        for name, value in positive.items():
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        for name in ("lr", "weight_decay", "warmup_steps", "puzzle_emb_lr", "puzzle_emb_weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be in [0, 1), got {self.betas}")
        if not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if not 0 <= self.lr_min_ratio <= 1:
            raise ValueError(f"lr_min_ratio must be in [0, 1], got {self.lr_min_ratio}")
        if self.max_segments > MAX_EVAL_SEGMENTS:  # the evaluation runs every test example up to it
            raise ValueError(f"max_segments must be <= {MAX_EVAL_SEGMENTS}, got {self.max_segments}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be > 0 or null, got {self.grad_clip}")
        if any(not 0 < f <= 1 for f in self.curve_fractions):
            raise ValueError(f"curve_fractions must lie in (0, 1], got {self.curve_fractions}")
        if self.schedule == "cosine" and self.steps is None:
            raise ValueError("schedule 'cosine' needs `steps` (the length of the cosine)")
