"""Live progress of parallel combinations: one bar per running combination under the overall bar.

Workers run in their own processes, so they report through a file: the trainer rewrites
``work/<key>/progress.json`` (step, total, last loss and accuracy) every couple of seconds
(`Trainer._heartbeat`), and the parent polls those files while it waits for workers. A bar shows
step / total, the rate and the ETA (tqdm's), and the last logged loss and exact accuracy. Bars are
drawn only on a terminal: in a CI log (stderr not a TTY) only the one line per finished combination
appears.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from looped_hrm.training.log import HEARTBEAT_NAME


def heartbeat_path(workdir: str | Path) -> Path:
    return Path(workdir) / HEARTBEAT_NAME


def read_heartbeat(workdir: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads(heartbeat_path(workdir).read_text())
    except (OSError, ValueError):
        return None


class LiveBars:
    """One tqdm bar per running combination (``enabled``: draw them; default: only on a terminal)."""

    def __init__(self, out_dir: str | Path, *, enabled: bool | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bars: dict[str, tqdm] = {}
        self.free: list[int] = []

    def start(self, key: str, name: str) -> None:
        if not self.enabled:
            return
        heartbeat_path(self.out_dir / "work" / key).unlink(missing_ok=True)  # a stale one from an earlier run
        position = self.free.pop(0) if self.free else len(self.bars) + 1
        self.bars[key] = tqdm(
            total=None, desc=name, position=position, leave=False, dynamic_ncols=True, unit="step", file=sys.stderr
        )

    def poll(self) -> None:
        for key, bar in self.bars.items():
            beat = read_heartbeat(self.out_dir / "work" / key)
            if beat is None:
                continue
            if beat.get("total") and bar.total != beat["total"]:
                bar.total = beat["total"]
            bar.n = int(beat["step"])
            post = {}
            if isinstance(beat.get("loss"), (int, float)):
                post["loss"] = f"{beat['loss']:.3f}"
            if isinstance(beat.get("exact_accuracy"), (int, float)):
                post["acc"] = f"{beat['exact_accuracy']:.3f}"
            bar.set_postfix(post, refresh=False)
            bar.refresh()

    def finish(self, key: str) -> None:
        bar = self.bars.pop(key, None)
        if bar is not None:
            self.free.append(bar.pos if isinstance(bar.pos, int) else abs(bar.pos))
            bar.close()

    def close(self) -> None:
        for key in list(self.bars):
            self.finish(key)
