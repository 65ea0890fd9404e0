"""``looped-hrm floors DIR``: CI floors for every cell of a finished grid (`looped_hrm.report.floors`),
printed as the ``floors:`` section of a benchmark YAML."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from looped_hrm.config import ConfigError
from looped_hrm.report.cells import load_records
from looped_hrm.report.floors import derive, to_yaml


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "floors", help="CI floors from the seeds of a finished grid (the rule: looped_hrm/report/floors.py)"
    )
    p.add_argument("dir", help="a results folder measured with several seeds")
    p.set_defaults(func=cmd_floors)


def cmd_floors(args: argparse.Namespace) -> int:
    records = load_records(Path(args.dir))
    if not records:
        raise ConfigError(f"{args.dir}: no result records in runs/")
    sys.stdout.write("floors:\n" + to_yaml(derive(records)))
    return 0
