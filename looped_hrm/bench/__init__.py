"""``python -m looped_hrm.bench``: the alias of ``looped-hrm run`` kept for existing scripts and papers.

``python -m looped_hrm.bench ARGS`` is ``looped-hrm run ARGS``; ``python -m looped_hrm.bench report
DIR`` (and ``analyze``, ``speed``, ``floors``) is ``looped-hrm report DIR``. The commands themselves
live in `looped_hrm.commands`.
"""

from __future__ import annotations

import sys
from typing import Sequence

from looped_hrm import commands

ALIASED = ("report", "analyze", "speed", "floors")
"""First words that name a command of their own; any other argument list is the grid runner's."""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not (argv and argv[0] in ALIASED):
        argv = ["run", *argv]
    return commands.main(argv, prog="python -m looped_hrm.bench")
