"""EvalConfig: how a trained model is measured.

Two evaluations are run on the same split and reported side by side:

* **policy** — every example runs until the halting policy stops it (capped at ``max_segments``);
  finished examples leave the batch (their slot takes the next example), so the compute saved by
  halting is real and the reported FLOPs are what was spent;
* **fixed** — every example runs ``fixed_segments`` segments (the papers' protocol). Its accuracy
  after each count in ``curve`` is recorded along the way, so inference-time scaling (train with 16
  segments, test with 32) costs one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
