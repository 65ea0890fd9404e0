"""``looped-hrm trace DIR``: follow one test puzzle (or your own) through a trained model, segment by
segment — each grid with the cells that changed, the halting decision and the task's verdict."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from looped_hrm.commands.guards import bounded
from looped_hrm.config import MAX_INT, ConfigError
from looped_hrm.contracts import Task
from looped_hrm.evaluation.config import MAX_EVAL_SEGMENTS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trace",
        help="follow one puzzle through a trained model, segment by segment",
        description="Show each segment's grid with the cells that changed, the halting decision and "
        "the verdict of the task's rule checker, for a finished run of the benchmark.",
    )
    p.add_argument("run", help="a results folder (results/NAME) or one record in its runs/")
    p.add_argument("--task", help="task label, when the folder holds several")
    p.add_argument("--model", help="model label, when the folder holds several")
    p.add_argument("--halting", help="halting-policy label, when the folder holds several")
    p.add_argument("--seed", type=int, help="seed, when the folder holds several")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--index", type=int, default=0, help="puzzle of the test split (default 0)")
    which.add_argument(
        "--puzzle",
        metavar="TEXT|FILE",
        help="your own puzzle (no label: judged by the task's rules), e.g. 81 Sudoku digits with 0 or . "
        "for blanks, or a file holding it",
    )
    p.add_argument("--segments", type=int, help="segments to run (default: the run's evaluation cap)")
    p.add_argument("--out", metavar="FILE", help="also draw it: FILE.png (a strip) or FILE.gif (an animation)")
    p.add_argument("--json", action="store_true", help="print the trace as JSON")
    p.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="highlight changed cells in the terminal (auto: when stdout is a terminal)",
    )
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, ...")
    p.set_defaults(func=cmd_trace)


def read_puzzle(task: Task, text: str):
    """``--puzzle``: the puzzle itself or a file holding it, read by the task's ``parse``."""
    parse = getattr(task, "parse", None)
    if parse is None:
        raise ConfigError(
            f"--puzzle: task '{task.name}' cannot read a puzzle from text (it has no parse()); "
            "use --index N to pick a test puzzle"
        )
    source = Path(text)
    if len(text) < 4096 and source.is_file():
        text, where = source.read_text(), str(source)
    else:
        where = "--puzzle"
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def cmd_trace(args: argparse.Namespace) -> int:
    from looped_hrm.evaluation.analyses import trace, unlabelled
    from looped_hrm.evaluation.pictures import check_picture_path, save_trace_picture, trace_text
    from looped_hrm.report.restore import choose_record, restore

    bounded("--segments", args.segments, 1, MAX_EVAL_SEGMENTS, "a number of segments")
    bounded("--index", args.index, 0, MAX_INT, "a puzzle index")
    if args.out:
        check_picture_path(args.out, "--out")  # before the trace runs, not after

    run = restore(
        choose_record(args.run, task=args.task, model=args.model, halting=args.halting, seed=args.seed),
        device=args.device,
    )
    if args.puzzle is not None:
        split, index, what = unlabelled(read_puzzle(run.task, args.puzzle)), 0, "your puzzle"
    else:
        split = run.task.build(run.eval.split)
        if not 0 <= args.index < len(split):
            raise ConfigError(
                f"--index {args.index}: the {run.eval.split} split has {len(split)} puzzles (0..{len(split) - 1})"
            )
        split, index, what = split, args.index, f"{run.eval.split} puzzle {args.index}"
    segments = args.segments if args.segments is not None else run.eval_max_segments
    result = trace(
        run.model,
        run.task,
        split,
        index,
        segments=segments,
        device=run.device,
        policy=run.policy,
        max_segments=run.eval_max_segments,
        loss=run.train.loss,
        precision=run.train.precision,
    )
    title = f"{run.name}: {what}"
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    if args.json:
        print(json.dumps({"run": run.name, "record": str(run.path), "puzzle": what, **result.to_dict()}, indent=1))
    else:
        print(trace_text(result, run.task, color=color, title=title))
    if args.out:
        path = save_trace_picture(result, run.task, args.out, title=title)
        print(f"picture: {path}", file=sys.stderr)
    return 0
