"""``python -m looped_hrm``: list plugins and inspect models.

    python -m looped_hrm plugins [--json]
    python -m looped_hrm info --model hrm --task sudoku --preset paper [--task-preset P] [--json]
    python -m looped_hrm trace results/RUN --model hrm --index 3 --out trace.png   # or --puzzle TEXT|FILE
    python -m looped_hrm train --task T --model M [--halting H] [--preset P] [--set K=V] --out DIR
    python -m looped_hrm eval DIR [--test-file FILE] [--max-segments N]

The benchmark runner has its own entry point, ``python -m looped_hrm.bench``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from tabulate import tabulate

from looped_hrm.config import ConfigError, Source, apply_overrides
from looped_hrm.contracts import Task
from looped_hrm.registry import PluginError, get_registry
from looped_hrm.resolve import instantiate, plugin_dataclass, resolve_plugin


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


def model_info(
    model: str, task: str, preset: str | None = None, task_preset: str | None = None, overrides: Sequence[str] = ()
) -> dict:
    """Parameters, depth and FLOPs of ``model`` built for ``task``; ``--set model.x=..`` overrides."""
    registry = get_registry()
    values = apply_overrides({}, list(overrides))
    unknown = set(values) - {"model", "task"}
    if unknown:
        raise ConfigError(f"--set: unknown section(s) {sorted(unknown)} (expected model.* or task.*)")
    source = Source(
        "--set",
        overrides={("model", "preset"): f"--preset {preset}", ("task", "preset"): f"--task-preset {task_preset}"},
    )
    task_r = resolve_plugin(
        registry,
        "task",
        task,
        preset=task_preset,
        default_preset=preset,
        config=values.get("task"),
        source=source,
        path=("task",),
    )
    model_r = resolve_plugin(
        registry, "model", model, preset=preset, config=values.get("model"), source=source, path=("model",)
    )
    task_obj = instantiate(registry, "task", task_r)
    net = registry.get("model", model_r["plugin"]).factory(plugin_dataclass(registry, "model", model_r), task_obj.info)
    profile = net.compute_profile()
    return {
        "model": model_r["plugin"],
        "task": task_r["plugin"],
        "preset": preset,
        "task_preset": task_r["preset"],
        "vocab_size": task_obj.info.vocab_size,
        "seq_len": task_obj.info.seq_len,
        "trainable_params": profile.trainable_params,
        "effective_depth": profile.effective_depth,
        "gradient_depth": profile.gradient_depth,
        "inner_steps": profile.inner_steps,
        "forward_flops_per_example_per_segment": profile.forward_flops,
        "train_flops_per_example_per_segment": profile.train_flops,
        "halting_levels": sorted(net.halting_levels),
        "notes": profile.notes,
    }


def cmd_info(args: argparse.Namespace) -> int:
    info = model_info(args.model, args.task, args.preset, args.task_preset, args.set)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    rows = [
        [k, f"{v:,}" if isinstance(v, int) else (f"{v:.4g}" if isinstance(v, float) else v)] for k, v in info.items()
    ]
    print(tabulate(rows, tablefmt="plain"))
    return 0


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
    from looped_hrm.bench.restore import choose_record, restore
    from looped_hrm.evaluation.analyses import trace, unlabelled
    from looped_hrm.evaluation.pictures import save_trace_picture, trace_text

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
    segments = args.segments or run.eval_max_segments
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m looped_hrm", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plugins", help="list every task, model and halting-policy plugin")
    p.add_argument("--json", action="store_true", help="print JSON for machines")
    p.set_defaults(func=cmd_plugins)
    p = sub.add_parser("info", help="parameters, depth and FLOPs of a model on a task")
    p.add_argument("--model", required=True)
    p.add_argument("--task", required=True)
    p.add_argument("--preset", default=None, help="model preset (tiny, small, paper, ...)")
    p.add_argument("--task-preset", default=None, help="task preset (default: the model preset if the task has it)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. model.H_cycles=3 or task.size=4",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)
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
    from looped_hrm.bench.single import add_parsers

    add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (PluginError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
