"""The Sudoku family: the ``sudoku`` task (`task`), its generator, solver, file readers and the
validity-preserving symmetries used for augmentation and de-duplication (docs/tasks/sudoku.md)."""

from __future__ import annotations

from looped_hrm import hookimpl
from looped_hrm.contracts import TaskSpec
from looped_hrm.plugins.tasks.sudoku import task


@hookimpl
def looped_hrm_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            name="sudoku",
            factory=task.SudokuTask,
            config=task.SudokuConfig,
            revision=task.DATA_VERSION,
            description="Sudoku 4×4/6×6/9×9, HRM encoding; unique-solution generator, real puzzle files",
            presets=task.PRESETS,
        )
    ]
