"""``looped-hrm plugins``: every task, model and halting-policy plugin, with where it comes from."""

from __future__ import annotations

import argparse
import json

from tabulate import tabulate

from looped_hrm.registry import get_registry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list every task, model and halting-policy plugin")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    rows = get_registry().rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [
        [
            r["kind"],
            r["name"],
            ", ".join(r["aliases"]),
            r["package"],
            r["version"],
            ", ".join(r["presets"]),
            r["description"],
        ]
        for r in rows
        if r["kind"] != "error"
    ]
    print(tabulate(table, headers=["kind", "name", "aliases", "package", "version", "presets", "description"]))
    return 0
