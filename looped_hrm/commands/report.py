"""``looped-hrm report DIR``: (re)build the tables and plots of a results folder from its records
(``DIR/runs/``; or the records in ``DIR`` itself, e.g. a results folder's ``evals/``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from looped_hrm.commands.guards import holding
from looped_hrm.config import ConfigError
from looped_hrm.report import extrapolation
from looped_hrm.report.cells import cells, load_records, records_folder
from looped_hrm.report.plots import write_plots
from looped_hrm.report.records import read_run_file, select
from looped_hrm.report.site import DEFAULT_PUZZLES, write_site
from looped_hrm.report.tables import write_tables
from looped_hrm.runner.sweep import write_sweep


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="rebuild tables and plots from a results folder")
    p.add_argument("dir")
    p.add_argument(
        "--all",
        action="store_true",
        dest="everything",
        help="every record in runs/, not only the last command's grid (other configs labelled with their config id)",
    )
    p.add_argument("--latex", action="store_true", help="also write results.tex")
    p.add_argument(
        "--html",
        action="store_true",
        help="also write DIR/site/: a static site (open DIR/site/index.html) with the tables, charts, "
        "provenance and a browser of the puzzles logged with --log-samples",
    )
    p.add_argument(
        "--html-puzzles",
        type=_puzzle_limit,
        default=DEFAULT_PUZZLES,
        metavar="N|all",
        help=f"puzzles per run in the site's browser (default {DEFAULT_PUZZLES}: the same test puzzles in every "
        "run of a task, taken in turn from each difficulty bucket)",
    )
    p.set_defaults(func=cmd_report, saved="the records in runs/ are untouched")


def cmd_report(args: argparse.Namespace) -> int:
    """`report` on DIR, holding it as `run` does: the tables of a grid still writing them (or of
    another report) are never replaced by ones made from fewer records."""
    if not Path(args.dir).is_dir():  # before the lock, which would create it
        raise ConfigError(f"{args.dir}: no such results folder")
    with holding(args.dir, "report"):
        return report(
            args.dir, everything=args.everything, latex=args.latex, html=args.html, html_puzzles=args.html_puzzles
        )


def _puzzle_limit(text: str) -> int | None:
    if text == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of puzzles >= 0 or 'all', got {text!r}")
    return value


def report(
    out_dir: str | Path,
    *,
    everything: bool = False,
    latex: bool = False,
    html: bool = False,
    html_puzzles: int | None = DEFAULT_PUZZLES,
) -> int:
    """(Re)build tables and plots from ``out_dir/runs``; print the summary; 1 if any run failed.

    The tables hold the grid of the last command run into ``out_dir`` (``run.json``); with
    ``everything``, every record, a config that differs from the current one under its own label.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: no such results folder")
    records = load_records(out_dir)
    if not records:
        raise ConfigError(f"{out_dir}: no result records in {records_folder(out_dir)}")
    meta = read_run_file(out_dir)
    keys = meta.get("keys") if isinstance(meta.get("keys"), list) else None
    records, scope = select(records, keys, everything=everything)
    if not records:
        raise ConfigError(
            f"{out_dir}: no record in runs/ belongs to the grid in {out_dir / 'run.json'} "
            "(`report --all` shows every record)"
        )
    frame, estimates, curves = write_tables(
        out_dir,
        records,
        title=str(meta.get("name") or out_dir.name),
        command=str(meta.get("command") or ""),
        scope=scope,
        latex=latex,
    )
    plots = write_plots(estimates, out_dir, curves)
    # extrapolation.md/.csv and a figure per task: accuracy against test-time steps, per test split
    title, command = str(meta.get("name") or out_dir.name), str(meta.get("command") or "")
    steps = extrapolation.write(
        out_dir, cells(records), f"# {title}\n\n" + (f"Command: `{command}`\n\n" if command else "")
    )
    plots += [p for p in steps if p.suffix == ".png"]
    # sweep.md/.csv/.png: the results pivoted on the swept keys, if any
    swept = write_sweep(frame, out_dir, command=str(meta.get("command") or ""))
    plots += [p for p in swept if p.suffix == ".png"]
    print((out_dir / "results.md").read_text())
    if swept:
        print((out_dir / "sweep.md").read_text())
    print(
        f"tables: {out_dir}/results.md, leaderboard.md, comparisons.md, buckets.md, results.csv, estimates.csv"
        + (f"; plots: {', '.join(p.name for p in plots)}" if plots else "")
    )
    if html:
        site = write_site(
            out_dir,
            records,
            title=str(meta.get("name") or out_dir.name),
            meta=meta,
            scope=scope,
            puzzles_per_run=html_puzzles,
        )
        print(site.line())
    failed = frame[frame.status == "failed"]
    for _, row in failed.iterrows():
        print(f"failed: {row.task}/{row.model}/{row.halting}/seed{row.seed}: {row.note}", file=sys.stderr)
    return 1 if len(failed) else 0
