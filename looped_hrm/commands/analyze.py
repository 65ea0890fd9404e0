"""``looped-hrm analyze DIR``: convergence, participation ratio, inference-time scaling and compute vs
difficulty of the trained models in a results folder (`looped_hrm.report.analyze`)."""

from __future__ import annotations

import argparse
import shlex
import sys

from looped_hrm.commands.guards import bounded, holding
from looped_hrm.config import MAX_INT
from looped_hrm.evaluation.config import MAX_EVAL_SEGMENTS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "analyze",
        help="look inside the trained models of a results folder",
        description="Convergence, participation ratio, inference-time scaling and "
        "compute vs difficulty of the trained models in a results folder.",
    )
    parser.add_argument("dir", help="a results folder whose work/ holds the checkpoints")
    parser.add_argument("--task")
    parser.add_argument("--model")
    parser.add_argument("--halting")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--limit", type=int, default=1000, help="test puzzles to use (default 1000; 0: all)")
    parser.add_argument(
        "--segments", type=int, help="segments for scaling and residuals (default: eval.fixed_segments)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="output folder (default DIR/analysis)")
    parser.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    from looped_hrm.report.analyze import analyze  # imports the engine: only when asked

    bounded("--segments", args.segments, 1, MAX_EVAL_SEGMENTS, "a number of segments")
    bounded("--limit", args.limit, 0, MAX_INT, "a number of test puzzles (0: all)")
    command = "looped-hrm analyze " + " ".join(shlex.quote(a) for a in args.argv)
    path = analyze(
        args.dir,
        task=args.task,
        model=args.model,
        halting=args.halting,
        seed=args.seed,
        limit=args.limit or None,
        segments=args.segments,
        device=args.device,
        out=args.out,
        command=command,
        hold=lambda folder: holding(folder, "--out"),  # one analysis writing into a folder at a time
    )
    print(path.read_text())
    print(f"analysis: {path.parent}", file=sys.stderr)
    return 0
