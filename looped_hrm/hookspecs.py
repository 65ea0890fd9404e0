"""Hook specifications: the whole plugin contract of looped_hrm in one file.

A plugin is a Python module (or any object) that implements some of the hooks below, marked with
`hookimpl`, and is announced by an entry point in the group ``looped_hrm``::

    # pyproject.toml of your package
    [project.entry-points.looped_hrm]
    my_task = "my_package.my_task_module"

    # my_package/my_task_module.py
    from looped_hrm import hookimpl
    from looped_hrm.contracts import TaskSpec

    @hookimpl
    def looped_hrm_tasks():
        return [TaskSpec(name="my_task", factory=MyTask, config=MyTaskConfig,
                         description="one line", presets={"tiny": {...}})]

Each hook returns a list of specs (`looped_hrm.contracts`); the registry validates them, rejects
two plugins claiming the same name, and looks them up by name or alias. The built-in tasks, models
and halting policies are registered through this same entry-point group.

All hooks are optional: implement only those for the kinds of plugin you provide.
"""

from __future__ import annotations

import pluggy

from looped_hrm.contracts import HaltingSpec, ModelSpec, TaskSpec

PROJECT = "looped_hrm"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def looped_hrm_tasks() -> list[TaskSpec]:
    """Return the tasks this plugin provides.

    A task's factory takes the validated config dataclass instance and returns an object
    implementing `looped_hrm.contracts.Task`.
    """


@hookspec
def looped_hrm_models() -> list[ModelSpec]:
    """Return the reasoning models this plugin provides.

    A model's factory takes ``(config, task_info)`` and returns a ``torch.nn.Module`` implementing
    `looped_hrm.contracts.ReasoningModel`. Presets conventionally include ``tiny`` (seconds on a
    CPU), ``small`` (the CPU benchmark default) and ``paper`` (the published configuration).
    """


@hookspec
def looped_hrm_halting_policies() -> list[HaltingSpec]:
    """Return the halting policies this plugin provides.

    A policy's factory takes the validated config dataclass instance and returns an object
    implementing `looped_hrm.contracts.HaltingPolicy`.
    """
