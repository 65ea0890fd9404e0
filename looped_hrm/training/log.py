"""Where a training run's logged windows go, so the trainer only produces them.

Every ``log_every`` steps the trainer reads its device accumulators into one record (step, lr, the
window's loss, accuracy, segments, policy metrics, and any quick evaluation as ``eval/...``). A
`TrainLog` sends it to every sink that is on:

* ``train_log.jsonl`` in the run's work folder (rank 0; cut back to the checkpoint on resume, since
  the steps after it are redone);
* TensorBoard (``train.tensorboard``; ``pip install 'looped-hrm[tensorboard]'``) and any logger
  with ``log(scalars, step)`` (`looped_hrm.training.wandb_logger.WandbLogger`), under ``train/...``;
* the progress bar's postfix (loss, accuracy, segments, examples finished per second);
* ``progress.json``, every few seconds whatever the log interval: the step and the last window, for
  the live bars of the grid runner (`looped_hrm.runner.live`), which reads no device.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from looped_hrm.atomic import atomic_write_json

LOG_NAME = "train_log.jsonl"
HEARTBEAT_NAME = "progress.json"  # step, total, last loss/accuracy: read by the runner's live bars (runner/live.py)
HEARTBEAT_EVERY_S = 2.0


class TrainLog:
    """The sinks of one training run (see the module docstring). ``workdir`` None: no files."""

    def __init__(
        self,
        workdir: Path | None,
        *,
        total_steps: int | None,
        is_main: bool,
        tensorboard: bool,
        logger: Any = None,
        progress: bool = False,
        initial_step: int = 0,
    ) -> None:
        self.workdir, self.total_steps, self.is_main, self.logger = workdir, total_steps, is_main, logger
        self.bar = tqdm(
            total=total_steps, initial=initial_step, disable=not progress, desc="train", dynamic_ncols=True, leave=False
        )
        self._writer: Any = _tensorboard(workdir) if tensorboard and workdir is not None and is_main else None
        self._window_start = time.perf_counter()
        self._last_beat = 0.0

    def write(self, record: dict[str, Any], shown: dict[str, float], finished: float) -> None:
        """One logged ``record`` (with its ``step``) to every sink; ``shown``: the window the bar shows,
        ``finished``: examples finished since the last write (for the bar's rate)."""
        now = time.perf_counter()  # examples finished per second over the window (tqdm shows steps/s and the ETA)
        rate = finished / max(now - self._window_start, 1e-9)
        self._window_start = now
        self.bar.set_postfix(
            loss=f"{shown.get('loss', float('nan')):.3f}",
            acc=f"{shown.get('exact_accuracy', 0):.3f}",
            segs=f"{shown.get('mean_segments', 0):.2f}",
            ex_s=f"{rate:.1f}",
            refresh=False,
        )
        step = record["step"]
        if self.workdir is not None and self.is_main:
            self.workdir.mkdir(parents=True, exist_ok=True)
            with open(self.workdir / LOG_NAME, "a") as f:
                f.write(json.dumps(record) + "\n")
        scalars = {f"train/{k}" if "/" not in k else k: v for k, v in record.items() if k != "step"}
        if self._writer is not None:
            for key, value in scalars.items():
                self._writer.add_scalar(key, value, step)
        if self.logger is not None:
            self.logger.log(scalars, step)

    def heartbeat(self, step: int, window: dict[str, float]) -> None:
        """Every few seconds, the progress a parent process shows (no device sync: the last window)."""
        now = time.monotonic()
        if self.workdir is None or now - self._last_beat < HEARTBEAT_EVERY_S:
            return
        self._last_beat = now
        beat = {"step": step, "total": self.total_steps, **{k: window.get(k) for k in ("loss", "exact_accuracy")}}
        atomic_write_json(self.workdir / HEARTBEAT_NAME, beat)

    def step_done(self) -> None:
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
        if self._writer is not None:
            self._writer.close()


def _tensorboard(workdir: Path) -> Any:
    """A SummaryWriter under ``workdir``, or None (with a warning) when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print(
            "looped_hrm: warning: tensorboard is not installed (pip install 'looped-hrm[tensorboard]'); "
            "scalars are only written to " + str(workdir / LOG_NAME),
            file=sys.stderr,
        )
        return None
    return SummaryWriter(str(workdir / "tensorboard"))


def truncate_log(workdir: Path, step: int) -> None:
    """Drop log records written after ``step`` (the checkpoint a run resumes from: they will be redone)."""
    log = workdir / LOG_NAME
    if not log.exists():
        return
    keep = [line for line in log.read_text().splitlines() if line and json.loads(line)["step"] <= step]
    log.write_text("".join(line + "\n" for line in keep))
