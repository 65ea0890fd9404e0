"""``looped-hrm speed --model M``: training throughput of one model, measured like the official
code's anchor (`looped_hrm.experiment.speed`).

    looped-hrm speed --model hrm --preset paper --task sudoku --batch 768 --compile
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import torch

from looped_hrm.commands.guards import bounded, holding
from looped_hrm.config import MAX_INT, ConfigError
from looped_hrm.experiment import speed


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "speed",
        help="training throughput of one model (steps/s, tokens/s, MFU), timed like the official code",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--task", default="sudoku")
    parser.add_argument("--preset", default="paper", help="model preset (default paper)")
    parser.add_argument("--task-preset", default=None)
    parser.add_argument(
        "--halting",
        help="default: the model's own (act_q for HRM, which counts its extra lookahead forward; act_bce for TRM)",
    )
    parser.add_argument("--batch", type=int, default=768)
    parser.add_argument("--steps", type=int, default=200, help="timed steps (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first, compilation included")
    parser.add_argument("--compile", action="store_true", help="torch.compile the segment")
    parser.add_argument(
        "--compile-backend",
        default="inductor",
        help="torch.compile backend (default inductor; aot_eager checks capture only)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    parser.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help=f"for MFU (default {speed.H100_PEAK_TFLOPS:g} on an H100 or H200, the dense bf16 rate "
        "measured on both; none elsewhere)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model.x=.., task.x=..")
    parser.add_argument("--out", default=None, help="folder for speed.json/speed.md")
    parser.set_defaults(func=cmd_speed)


def cmd_speed(args: argparse.Namespace) -> int:
    bounded("--batch", args.batch, 1, MAX_INT, "a batch size")
    bounded("--steps", args.steps, 1, MAX_INT, "a number of timed steps")
    bounded("--warmup", args.warmup, 1, MAX_INT, "a number of warm-up steps (the first compiles)")
    bounded("--threads", args.threads, 1, 4096, "a number of threads")
    if args.peak_tflops is not None and not 0 < args.peak_tflops < float("inf"):
        raise ConfigError(f"--peak-tflops {args.peak_tflops}: expected a positive number")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    command = "looped-hrm speed " + " ".join(shlex.quote(a) for a in args.argv)
    if args.out is None:  # the folder is named after the device the timing ran on
        row = _measure(args)
        out = Path("results") / ("gpu" if row["device"] != "cpu" else "cpu") / speed.device_slug(row["device"])
        with holding(out, "--out"):  # two commands merging rows into one speed.json would lose one's
            speed.write([row], out, command)
    else:  # held from the start: a folder that cannot be, or a damaged table, is refused before the timing
        out = Path(args.out)
        with holding(out, "--out"):
            speed.read_rows(out)
            speed.write([_measure(args)], out, command)
    print((out / "speed.md").read_text())
    return 0


def _measure(args: argparse.Namespace) -> dict:
    """One row of the speed table, measured as the arguments say."""
    peak = args.peak_tflops
    if peak is None and torch.cuda.is_available() and any(h in torch.cuda.get_device_name() for h in ("H100", "H200")):
        peak = speed.H100_PEAK_TFLOPS
    return speed.measure(
        args.model,
        args.task,
        preset=args.preset,
        task_preset=args.task_preset,
        halting=args.halting,
        batch=args.batch,
        steps=args.steps,
        warmup=args.warmup,
        compile=args.compile,
        device=args.device,
        precision=args.precision,
        overrides=args.set,
        peak_tflops=peak,
        compile_backend=args.compile_backend,
    )
