"""The one command line: ``looped-hrm <command>`` (the same as ``python -m looped_hrm <command>``).

    looped-hrm run --tasks sudoku --models hrm,baseline     # a grid: train, evaluate, tables
    looped-hrm report results/NAME                           # tables and plots from finished runs
    looped-hrm analyze | train | eval | trace | speed | floors | plugins | info

One module per command in this package, each with ``register(subparsers)``; ``python -m
looped_hrm.bench ...`` is the alias of ``run`` kept for existing scripts. Plugins add commands with
the ``looped_hrm_register_commands`` hook (`looped_hrm.hookspecs`), as ``llm``'s plugins do.

Every command runs under the same guards (`main`; the others are in `looped_hrm.commands.guards`): a
bad config or plugin name, or a missing optional package, is one ``error:`` line and exit 2; an
OSError (disk full, a read-only folder) names its path, exit 1; Ctrl-C says what stopped and what
was kept, exit 130. A command says what it keeps in ``set_defaults(saved=...)`` (it may refine
``args.saved`` while it runs) and ``resumable=True`` when rerunning it continues the work.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from looped_hrm.config import ConfigError
from looped_hrm.registry import PluginError, get_registry

COMMANDS = ("run", "report", "analyze", "train", "eval", "trace", "speed", "floors", "plugins", "info")
"""The built-in commands, in the order ``--help`` lists them; each is the module of that name here."""


def build_parser(prog: str = "looped-hrm") -> argparse.ArgumentParser:
    """The parser of every built-in command and of every command a plugin registers."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Train, evaluate, report on and look inside adaptive-compute reasoning models."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")
    for name in COMMANDS:
        importlib.import_module(f"looped_hrm.commands.{name}").register(sub)
    for origin, hook in get_registry().command_hooks:
        try:
            hook(subparsers=sub)
        except Exception as exc:  # noqa: BLE001 - a broken plugin command must not take the host down
            print(
                f"warning: plugin '{origin.plugin}' from package '{origin.package}' could not add its "
                f"commands: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
    return parser


def main(argv: Sequence[str] | None = None, prog: str = "looped-hrm") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    args.argv = argv[1:]  # the command's own arguments, for the command line a result records
    try:
        return args.func(args)
    except (PluginError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional package that an option, a task or a model needs
        if isinstance(exc, ModuleNotFoundError):
            if (exc.name or "looped_hrm").partition(".")[0] == "looped_hrm":
                raise  # our own module missing is a broken install, not a user's mistake
            print(
                f"error: {args.command} needs the Python package '{exc.name}', which is not installed", file=sys.stderr
            )
        else:
            print(f"error: {str(exc).splitlines()[0] if str(exc) else exc!r}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, a folder gone read-only mid-run: one line naming the path
        saved = getattr(args, "saved", None)  # read now: a command may say more once it knows its folder
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}" + (f" ({saved})" if saved else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        # what stopped (the interrupted code may say: the trainer names its step and last checkpoint),
        # what the command keeps, and whether the same command resumes
        parts = [str(exc) or f"{args.command} stopped before it finished", getattr(args, "saved", None)]
        if getattr(args, "resumable", False):
            parts.append("rerun the same command to resume")
        print("interrupted: " + "; ".join(p for p in parts if p), file=sys.stderr)
        return 130
