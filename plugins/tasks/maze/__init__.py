"""The maze family: the ``maze`` task (`task`), maze generators and the shortest-path rule (`grid`),
and the reader for maze-dataset JSON lines (`jsonl`); see docs/tasks/maze.md."""

from __future__ import annotations

from looped_hrm import hookimpl
from looped_hrm.contracts import TaskSpec
from looped_hrm.plugins.tasks.maze import task


@hookimpl
def looped_hrm_tasks() -> list[TaskSpec]:
    return [
        TaskSpec(
            name="maze",
            factory=task.MazeTask,
            config=task.MazeConfig,
            revision=task.DATA_VERSION,
            description="shortest S->G path on an N×N character maze (HRM Maze-Hard encoding)",
            presets=task.PRESETS,
        )
    ]
