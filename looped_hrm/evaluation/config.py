"""EvalConfig: how a trained model is measured.

Two evaluations are run on the same split and reported side by side:

* **policy** — every example runs until the halting policy stops it (capped at ``max_segments``);
  finished examples leave the batch (their slot takes the next example), so the compute saved by
  halting is real and the reported FLOPs are what was spent;
* **fixed** — every example runs ``fixed_segments`` segments (the papers' protocol). Its accuracy
  after each count in ``curve`` is recorded along the way, so inference-time scaling (train with 16
  segments, test with 32) costs one pass; with ``every_step`` after every step, for models that
  report their inner steps every iteration (accuracy against test-time iterations, its peak and the
  drop from it: ``peak_exact_accuracy``, ``peak_step``, ``overthinking_drop``).

**Extrapolation** (``extrapolate``, docs/extrapolation.md): the same trained model is also tested on
the test splits the task builds with one of its config keys set to other values — longer strings
(parity ``test_length``), larger mazes (maze ``test_size``), harder puzzles (sudoku
``test_difficulty``) — each with both passes; its metrics are ``extrapolate/<key>=<value>/...``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_EVAL_SEGMENTS = 4096
"""Beyond this an evaluation would run for hours with nothing to show: almost surely a typo."""


@dataclass
class EvalConfig:
    split: str = "test"  # the task split to evaluate
    batch_size: int = 256  # slots per evaluation batch
    limit: int | None = None  # evaluate only the first N examples of the split (None: all)
    max_segments: int | None = None  # cap of the policy-halted run (None: the training max_segments)
    fixed_segments: int | None = None  # segments of the fixed run (None: max_segments); larger = inference-time scaling
    curve: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64])  # fixed-run segment counts to report
    policy: bool = True  # run the policy-halted evaluation
    fixed: bool = True  # run the fixed-segments evaluation
    use_ema: bool = True  # evaluate the EMA weights when training kept them
    verify: bool = True  # also score with Task.verify (the puzzle's rules), one example at a time on the host
    every_step: bool = False  # fixed run: exact accuracy after every step (inner step or segment) up to
    #   fixed_segments, its peak and the drop from it (accuracy against test-time iterations)
    extrapolate: dict[str, list[Any]] = field(default_factory=dict)  # {task config key: [values]}: also test
    #   on the test split the task builds with each value (one key; see the module docstring)

    def __post_init__(self) -> None:
        for name in ("batch_size", "limit", "max_segments", "fixed_segments"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if any(c <= 0 for c in self.curve):
            raise ValueError(f"curve entries must be > 0, got {self.curve}")
        for name in ("max_segments", "fixed_segments"):
            value = getattr(self, name)
            if value is not None and value > MAX_EVAL_SEGMENTS:
                raise ValueError(
                    f"{name} must be <= {MAX_EVAL_SEGMENTS} (every test example runs up to that many "
                    f"segments), got {value}"
                )
        if any(c > MAX_EVAL_SEGMENTS for c in self.curve):
            raise ValueError(f"curve entries must be <= {MAX_EVAL_SEGMENTS}, got {max(self.curve)}")
        if not (self.policy or self.fixed):
            raise ValueError("enable at least one of policy / fixed evaluation")
        if len(self.extrapolate) > 1:
            raise ValueError(f"extrapolate varies one task config key, got {sorted(self.extrapolate)}")
        if any(not values for values in self.extrapolate.values()):
            raise ValueError("extrapolate: give at least one value")


def variant_label(key: str, value: Any) -> str:
    """How an extrapolation test split is named in metrics and tables: ``test_length=512``,
    ``test_difficulty=hard`` (a list of values joined by ``+``; ``/`` in a value, a file path,
    shown as ``:`` since metric keys are slash-joined)."""
    shown = "+".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    return f"{key}={shown}".replace("/", ":")
