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

import argparse

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


@hookspec
def looped_hrm_register_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add commands to ``looped-hrm`` (as ``llm``'s ``register_commands`` does).

    ``subparsers`` is the command line's `argparse` sub-parser group: add a parser for each command
    and set its function, which takes the parsed arguments and returns the exit code::

        @hookimpl
        def looped_hrm_register_commands(subparsers):
            p = subparsers.add_parser("hello", help="say hello")
            p.add_argument("--name", default="world")
            p.set_defaults(func=lambda args: print(f"hello {args.name}") or 0)

    Your command runs under the host's guards: raise `looped_hrm.config.ConfigError` for a bad
    value (one ``error:`` line, exit 2). A name that a built-in command already uses is refused.
    """
