"""``looped-hrm run`` (= ``python -m looped_hrm.bench``): train and evaluate every combination of a
grid into result tables.

    looped-hrm run --tasks sudoku --models hrm,baseline          # small CPU default
    looped-hrm run --benchmark benchmarks/ci.yaml --seeds 0,1,2

Results go to ``--out`` (default ``results/<name>``): ``runs/*.json`` (one per combination),
``results.csv``, ``results.md``, ``leaderboard.md``, ``buckets.md`` and plots. A rerun of the same
command skips every finished combination (``--no-resume`` reruns them).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from tabulate import tabulate
from tqdm import tqdm

from looped_hrm.atomic import atomic_write_json
from looped_hrm.commands.guards import bounded, holding
from looped_hrm.commands.report import report
from looped_hrm.config import MAX_INT, ConfigError, Source, apply_overrides, load_yaml, parse_override
from looped_hrm.evaluation import catalogue
from looped_hrm.registry import get_registry
from looped_hrm.report.records import read_record, write_run_file
from looped_hrm.resolve import fingerprint_data
from looped_hrm.runner.defaults import DEFAULT_PRESET, default_train_eval
from looped_hrm.runner.estimate import estimate_rows
from looped_hrm.runner.grid import (
    MAX_COMBINATIONS,
    BenchmarkConfig,
    Combination,
    drop_exclusions_of,
    expand,
    load_benchmark,
)
from looped_hrm.runner.sweep import parse_sweep
from looped_hrm.runner.worker import record_path, samples_path, skipped_record
from looped_hrm.training.wandb_logger import wandb_project

MAX_JOBS = 1024
"""Worker processes of a local grid: more than any machine's cores is a typo."""


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> [0, 1, 2]; a single number N -> N seeds [0 .. N-1]; ``"5,"`` -> [5]."""
    try:
        items = [int(t) for t in _split(text)]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected a count like 3 or a list like 0,1,2") from None
    if not items:
        raise ConfigError("--seeds: empty")
    if len(items) == 1 and "," not in text:
        if items[0] < 1:
            raise ConfigError(
                f"--seeds {text}: a single number is a count of seeds; "
                "for seed 0 alone write --seeds 1 (or a list: --seeds 0,)"
            )
        bounded("--seeds", items[0], 1, MAX_COMBINATIONS, "a count of seeds")
        return list(range(items[0]))
    return items


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "run",
        help="train and evaluate every combination of a grid into result tables",
        description=__doc__.split("\n\n")[0],
    )
    add_arguments(parser)
    parser.set_defaults(func=run_grid, saved="finished combinations are saved", resumable=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    grid = parser.add_argument_group("the grid")
    grid.add_argument(
        "--tasks", help="comma list of task plugins (aliases allowed), e.g. sudoku,parity; `list` lists them"
    )
    grid.add_argument("--models", help="comma list of model plugins, e.g. hrm,baseline; `list` lists them")
    grid.add_argument(
        "--halting",
        help="comma list of halting policies (default: each model's own: act_q for HRM, act_bce for TRM); "
        "`list` lists them",
    )
    grid.add_argument("--seeds", help="a count (3 = seeds 0,1,2) or a list (0,1,2); default 0")
    grid.add_argument(
        "--benchmark",
        metavar="FILE",
        help="a benchmark YAML (grid, budgets, floors); --tasks/--models/--halting then select entries of it by label",
    )
    grid.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="train each combination for exactly this many wall-clock seconds, compilation included "
        "(replaces the step and epoch budgets: a same-time comparison)",
    )
    grid.add_argument("--preset", help=f"plugin preset: tiny, small, paper (default {DEFAULT_PRESET})")
    grid.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="one labelled grid entry per value, e.g. model.H_cycles=1,2,4 (hrm[H_cycles=2]) or "
        "train.max_segments=4,8; repeatable (cross product); tables pivot on it (sweep.md)",
    )
    grid.add_argument("--limit", type=int, metavar="N", help="evaluate on the first N test examples (eval.limit)")
    grid.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override: train.steps=200, eval.max_segments=32, model.hidden_size=64 (every model), "
        "task.size=6, halting.exploration_prob=0 ...",
    )
    run = parser.add_argument_group("running")
    run.add_argument("--device", help="auto (default), cpu, cuda, cuda:1")
    run.add_argument("--jobs", type=int, help="parallel worker processes (default: CPU cores on CPU, 1 on CUDA)")
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local processes (default) or Ray tasks (pip install 'looped-hrm[ray]')",
    )
    run.add_argument(
        "--ray-address",
        help="Ray cluster address, HOST:PORT or ray://HOST[:PORT] (default: RAY_ADDRESS or a local Ray); "
        "one that does not answer within 30 s is refused before anything starts",
    )
    run.add_argument("--out", metavar="DIR", help="output folder (default results/<name>)")
    run.add_argument("--name", help="run name (default: the benchmark's name or one made from the grid)")
    run.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip combinations already finished in --out (default: on); --no-resume retrains "
        "every combination from scratch (its work folder is deleted)",
    )
    run.add_argument("--dry-run", action="store_true", help="print the grid and its estimated compute; run nothing")
    run.add_argument(
        "--print-config",
        action="store_true",
        help="print every combination's fully resolved config (YAML); run nothing",
    )
    run.add_argument(
        "--wandb",
        metavar="PROJECT",
        default=wandb_project(),
        help="also log training and evaluation scalars to Weights & Biases (pip install "
        "'looped-hrm[wandb]'; WANDB_MODE=offline works without network; default: $LOOPED_HRM_WANDB)",
    )
    run.add_argument(
        "--log-samples",
        action="store_true",
        help="also write runs/<combination>.samples.jsonl: every test puzzle, the prediction after each "
        "segment, where it halted, correct and verified (a finished run only re-evaluates)",
    )
    run.add_argument("--latex", action="store_true", help="also write results.tex")
    run.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="per-combination training bars (default: on with one job)",
    )


def build_benchmark(args: argparse.Namespace) -> tuple[BenchmarkConfig, Source]:
    """The grid from ``--benchmark`` or from the command line, with every override applied.

    The returned `Source` blames a value on the option that set it (``--set train.steps=0``) and
    otherwise on its line in the benchmark file.
    """
    source: Source
    if args.benchmark:
        data, source = load_yaml(args.benchmark)
        if not isinstance(data, dict):
            raise ConfigError(f"{args.benchmark}: expected a mapping at the top level")
        load_benchmark(data, source)  # the whole file is valid, also what --tasks/--models/--halting leave out
    else:
        if not args.tasks or not args.models:
            raise ConfigError(
                "give --tasks and --models (e.g. --tasks sudoku --models hrm,baseline), or --benchmark FILE"
            )
        preset = args.preset or DEFAULT_PRESET
        train, evaluation = default_train_eval(preset)
        data = {
            "name": args.name or f"{'-'.join(_split(args.tasks))}_{'-'.join(_split(args.models))}_{preset}",
            "preset": preset,
            "tasks": _split(args.tasks),
            "models": _split(args.models),
            "halting": _split(args.halting),
            "train": train,
            "eval": evaluation,
        }
        source = Source("<command line>")
    data, overrides = _apply_cli(data, args)
    source = dataclasses.replace(source, overrides=overrides)
    return load_benchmark(data, source), source


def _select(entries: list[Any], wanted: list[str], kind: str, file: str) -> list[Any]:
    labels = [e if isinstance(e, str) else (e.get("label") or e["plugin"]) for e in entries]
    missing = [w for w in wanted if w not in labels]
    if missing:
        raise ConfigError(f"{file}: no {kind} entry labelled {missing[0]!r} (entries: {', '.join(labels)})")
    return [e for e, label in zip(entries, labels) if label in wanted]


def _apply_cli(data: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """``data`` with the command line's choices applied, and which key paths each option set."""
    data = dict(data)
    overrides: dict[tuple[str, ...], str] = {}
    if args.benchmark:
        for key, kind in (("tasks", "task"), ("models", "model"), ("halting", "halting")):
            if getattr(args, key):
                data[key] = _select(data.get(key, []), _split(getattr(args, key)), kind, args.benchmark)
                drop_exclusions_of(data, kind, _split(getattr(args, key)))
        if args.preset:
            data["preset"] = args.preset
        if args.name:
            data["name"] = args.name
    if args.preset:
        overrides[("preset",)] = f"--preset {args.preset}"
    if args.seeds:
        data["seeds"] = parse_seeds(args.seeds)
        overrides[("seeds",)] = f"--seeds {args.seeds}"
    if args.device:
        data["device"] = args.device
        overrides[("device",)] = f"--device {args.device}"
    if args.sweep:
        sweeps = dict(data.get("sweep") or {})
        for text in args.sweep:
            key, values = parse_sweep(text)
            sweeps[key] = values
            overrides[("sweep", key)] = f"--sweep {text}"
        data["sweep"] = sweeps
    if bounded("--limit", args.limit, 1, MAX_INT, "a number of test examples") is not None:
        data["eval"] = {**(data.get("eval") or {}), "limit": args.limit}
        overrides[("eval", "limit")] = f"--limit {args.limit}"
    plugin_sets: list[str] = []
    plain_sets: list[str] = []
    for text in args.set:
        path, _ = parse_override(text)
        (plugin_sets if path[0] in ("task", "model", "halting") and len(path) > 1 else plain_sets).append(text)
        if path[0] not in ("task", "model", "halting"):
            overrides[path] = f"--set {text}"
    data = apply_overrides(data, plain_sets)
    for text in plugin_sets:
        path, _ = parse_override(text)
        key = {"task": "tasks", "model": "models", "halting": "halting"}[path[0]]
        entries: list[dict[str, Any]] = [{"plugin": e} if isinstance(e, str) else dict(e) for e in data.get(key, [])]
        for i, entry in enumerate(entries):
            entry["config"] = apply_overrides(
                entry.get("config") or {}, [f"{'.'.join(path[1:])}={text.partition('=')[2]}"]
            )
            overrides[(key, str(i), "config", *path[1:])] = f"--set {text}"
        data[key] = entries
    return data, overrides


LINE_METRICS = (
    (catalogue.key("exact_accuracy", "policy"), "exact", True),
    (catalogue.key("token_accuracy", "policy"), "tokens", True),
    (catalogue.key("mean_segments", "policy"), "segments", False),
    (catalogue.key("exact_accuracy", "fixed"), "exact@max", True),
    (catalogue.key("train/wall_s"), "train s", False),
)
"""The one line printed per finished combination: (metric, label, shown as a percentage)."""


def _headline(record: dict[str, Any]) -> str:
    if record["status"] == "skipped":
        return f"skipped: {record.get('reason')}"
    if record["status"] != "ok":
        return f"FAILED: {record.get('error')}"
    m = record.get("metrics", {})
    parts = []
    for name, label, pct in LINE_METRICS:
        if isinstance(m.get(name), (int, float)):
            parts.append(f"{label} {100 * m[name]:.1f}%" if pct else f"{label} {m[name]:.1f}")
    return "ok  " + "  ".join(parts)


def dry_run(combos: list[Combination]) -> int:
    rows = estimate_rows(combos, get_registry())
    print(tabulate(rows, headers="keys", tablefmt="github"))
    total = sum(r["est. train PFLOP"] for r in rows if isinstance(r["est. train PFLOP"], float))
    print(
        f"\n{len(combos)} combinations, {sum(1 for c in combos if c.skip_reason)} skipped; "
        f"estimated training compute {total:.3g} PFLOP"
    )
    return 0


def print_config(combos: list[Combination]) -> int:
    """``--print-config``: each combination's resolved config, as the worker will get it."""
    import yaml

    for combo in combos:
        data = {k: v for k, v in combo.to_dict().items() if k != "data"}
        print(f"# {combo.name}  (key {combo.key})" + (f"  SKIPPED: {combo.skip_reason}" if combo.skip_reason else ""))
        print(yaml.safe_dump(data, sort_keys=False, default_flow_style=None).rstrip())
        print("---")
    print(f"# {len(combos)} combinations", file=sys.stderr)
    return 0


def list_plugins(kind: str) -> int:
    """``--tasks list`` (and models, halting): the names a grid may use, with aliases and presets."""
    rows = [
        [r["name"], ", ".join(r["aliases"]), ", ".join(r["presets"]), r["package"], r["description"]]
        for r in get_registry().rows()
        if r["kind"] == kind
    ]
    print(tabulate(rows, headers=[kind, "aliases", "presets", "package", "description"]))
    return 0


def run_grid(args: argparse.Namespace) -> int:
    for option, kind in (("tasks", "task"), ("models", "model"), ("halting", "halting")):
        if getattr(args, option) == "list":
            return list_plugins(kind)
    if args.wandb and importlib.util.find_spec("wandb") is None:
        raise ConfigError("--wandb: wandb is not installed (pip install 'looped-hrm[wandb]')")
    bounded("--jobs", args.jobs, 1, MAX_JOBS, "a number of worker processes")
    if args.executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError("--executor ray: Ray is not installed (pip install 'looped-hrm[ray]')")
    bench, source = build_benchmark(args)
    registry = get_registry()
    combos = expand(bench, registry, source, time_budget=args.time_budget, devices=not args.dry_run)
    if args.dry_run:
        return dry_run(combos)
    if args.print_config:
        return print_config(combos)
    if args.executor == "ray":  # a cluster that cannot be reached: one line within a bound, before anything starts
        from looped_hrm.runner.ray_address import check_ray_address

        check_ray_address(args.ray_address)
    out_dir = Path(args.out or Path("results") / bench.name)
    with holding(out_dir, "--out"):
        (out_dir / "runs").mkdir(exist_ok=True)
        return _run_locked(args, bench.name, combos, out_dir)


def run_command(argv: list[str]) -> str:
    """The command a results folder says made it, in its documented spelling: ``looped-hrm run ARGS``
    whether it was typed so, as ``python -m looped_hrm run ARGS`` or as the alias ``python -m
    looped_hrm.bench [run] ARGS`` (they are one command)."""
    rest = argv[1:] if argv[:1] == ["run"] else argv
    return " ".join(["looped-hrm", "run", *(shlex.quote(a) for a in rest)])


def _run_locked(args: argparse.Namespace, name: str, combos: list[Combination], out_dir: Path) -> int:
    """Run the grid into ``out_dir``, which this command holds the lock of."""
    fingerprint_data(combos, get_registry())  # builds each task's data once; part of every key
    write_run_file(out_dir, name=name, command=run_command(sys.argv[1:]), keys=[c.key for c in combos])

    todo: list[Combination] = []
    done = 0
    for combo in combos:
        path = record_path(out_dir, combo)
        if combo.skip_reason:
            atomic_write_json(path, skipped_record(combo))
            done += 1
        elif (
            args.resume
            and path.exists()
            and _finished_ok(path)
            and not (args.log_samples and not samples_path(out_dir, combo).exists())
        ):
            done += 1
        else:
            if not args.resume:  # really retrain: a finished checkpoint would only be re-evaluated
                shutil.rmtree(out_dir / "work" / combo.key, ignore_errors=True)
            todo.append(combo)
    on_cuda = any(c.device.startswith("cuda") for c in todo)
    jobs = max(1, args.jobs or (1 if on_cuda else min(len(todo) or 1, os.cpu_count() or 1)))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():  # the caller's cap (e.g. beside other xdist workers):
        threads = min(threads, max(1, int(os.environ["OMP_NUM_THREADS"])))  # oversubscribed OpenMP crawls
    progress = args.progress if args.progress is not None else jobs == 1
    print(
        f"{name}: {len(combos)} combinations, {done} already done, {len(todo)} to run "
        f"({jobs} job(s) × {threads} thread(s)) -> {out_dir}",
        file=sys.stderr,
    )

    bar = tqdm(
        total=len(combos),
        initial=done,
        desc="combinations",
        unit="run",
        position=0,
        disable=not todo,
        dynamic_ncols=True,
    )

    def on_done(combo: Combination, record: dict[str, Any]) -> None:
        bar.update(1)
        bar.write(f"[{bar.n}/{len(combos)}] {combo.name}: {_headline(record)}")

    try:
        if args.executor == "ray":
            from looped_hrm.runner.executor import run_ray

            run_ray(
                todo,
                out_dir,
                threads=threads,
                address=args.ray_address,
                on_done=on_done,
                log_samples=args.log_samples,
                wandb=args.wandb,
            )
        else:
            from looped_hrm.runner.executor import run_local
            from looped_hrm.runner.live import LiveBars

            live = LiveBars(out_dir) if not progress and todo else None  # one bar per running combination (TTY only)
            run_local(
                todo,
                out_dir,
                jobs=jobs,
                threads=threads,
                progress=progress,
                on_done=on_done,
                log_samples=args.log_samples,
                wandb=args.wandb,
                live=live if live is not None and live.enabled else None,
            )
    finally:
        bar.close()
    return report(out_dir, latex=args.latex)


def _finished_ok(path: Path) -> bool:
    if not path.exists():
        return False
    record = read_record(path)  # a malformed record is reported and rerun, never trusted
    return record is not None and record["status"] == "ok"
