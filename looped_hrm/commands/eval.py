"""``looped-hrm eval DIR``: evaluate the run in ``DIR`` (finished or partial) on its task's test split,
or on a file of the user's (``--test-file``: a Sudoku CSV, a maze JSONL or CSV — whatever the task's
``test_file`` accepts; ARC's ``test_file``, a folder of ARC JSON tasks, is for training since every
ARC task has its own puzzle embedding), and write the same metrics as the record to
``DIR/evals/<name>.json``. ``eval CHECKPOINT --task T --model M --preset P`` evaluates a checkpoint
of the official HRM/TRM code instead (``looped_hrm.training.official``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from looped_hrm.atomic import atomic_write_json
from looped_hrm.commands.one_run import COMBINATION_NAME, failure_code, print_metrics, resolve
from looped_hrm.config import ConfigError
from looped_hrm.engine.distributed import Dist
from looped_hrm.registry import get_registry
from looped_hrm.resolve import Combination
from looped_hrm.runner.worker import record_path, run_combination
from looped_hrm.training.wandb_logger import wandb_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a run folder (finished or partial) or an official HRM/TRM checkpoint",
        description="Evaluate a trained run, optionally on your own test file; writes DIR/evals/<name>.json.",
    )
    p.add_argument("run", metavar="DIR|CHECKPOINT")
    p.add_argument(
        "--test-file",
        metavar="FILE",
        help="your own test data: Sudoku CSV (incl. HRM's question,answer), maze JSONL or HRM's maze CSV",
    )
    p.add_argument("--max-segments", type=int, help="segments to run (default: the run's eval setting)")
    p.add_argument("--limit", type=int, help="evaluate only the first N test examples")
    p.add_argument("--key", help="which run, when DIR holds several")
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="live progress: examples, exact accuracy so far, segments, examples/s, ETA (default: on)",
    )
    p.add_argument("--device", help="auto (default), cpu, cuda")
    p.add_argument("--out", metavar="DIR", help="for a checkpoint: where to write (default results/eval_<name>)")
    for flag in ("--task", "--model", "--halting", "--preset"):
        p.add_argument(flag, default=None, help="for a checkpoint of the official code")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for a checkpoint: config overrides")
    p.set_defaults(func=cmd_eval)


def _load_combination(run_dir: Path, key: str | None) -> Combination:
    found = sorted(run_dir.glob(f"work/{key or '*'}/{COMBINATION_NAME}"))
    if not found:
        raise ConfigError(
            f"{run_dir}: no run here (expected work/<key>/{COMBINATION_NAME}, written by "
            "`python -m looped_hrm train --out DIR`)"
        )
    if len(found) > 1:
        keys = ", ".join(p.parent.name for p in found)
        raise ConfigError(f"{run_dir}: {len(found)} runs ({keys}); choose one with --key")
    return Combination(**json.loads(found[0].read_text()))


WHOLE_FILE = {"num_test": -1, "test_difficulty": [], "dedup": "none"}
"""Task config values that make a test split every usable example of its ``test_file`` (the names the
built-in tasks use; a field a task does not have is left alone)."""


def _with_test_data(combo: Combination, test_file: str | None, overrides: dict[str, Any]) -> Combination:
    """``combo`` evaluated on ``test_file`` (every example of it) and with eval overrides."""
    task = dict(combo.task)
    if test_file is not None:
        spec = get_registry().get("task", task["plugin"])
        fields = {f.name for f in dataclasses.fields(spec.config)}
        if "test_file" not in fields:
            raise ConfigError(f"task '{spec.name}' reads no test file (its config has no `test_file`)")
        config = {**task["config"], "test_file": str(Path(test_file).resolve())}
        # every usable example of the file: no count, no difficulty filter, no de-duplication
        config.update({k: v for k, v in WHOLE_FILE.items() if k in fields})
        task["config"] = config
    # data=None: the evaluated split is not the one fingerprinted at training time
    return dataclasses.replace(combo, task=task, eval={**combo.eval, **overrides}, data=None)


def cmd_eval(args: argparse.Namespace) -> int:
    dist, device = Dist.from_env(args.device or "auto")
    target = Path(args.run)
    overrides: dict[str, Any] = {}
    if args.max_segments is not None:
        overrides.update(max_segments=args.max_segments, fixed_segments=args.max_segments)
    if args.limit is not None:
        overrides["limit"] = args.limit
    try:
        if target.is_dir():
            if args.task or args.model:
                raise ConfigError(f"{target} is a run folder: its task and model come from it (drop --task/--model)")
            trained = _load_combination(target, args.key)
            out = target
        else:
            if not (args.task and args.model):
                raise ConfigError(
                    f"{target}: not a run folder; to evaluate an official HRM/TRM checkpoint give "
                    "--task and --model (and --preset / --set model.* to match its architecture)"
                )
            if not target.exists():
                raise ConfigError(f"{target}: no such file or folder")
            sets = list(args.set) + [f"train.init_from={target.resolve()}"]
            # trained elsewhere: the preset's own data is neither built nor fingerprinted
            trained = resolve(args.task, args.model, args.halting, args.preset, sets, 0, str(device), fingerprint=False)
            out = Path(args.out or Path("results") / f"eval_{target.stem}")
        combo = _with_test_data(trained, args.test_file, overrides)
        name = Path(args.test_file).stem if args.test_file else "test"
        work = out / "work" / trained.key
        # evaluate through the worker, with the trained run's checkpoint under the evaluated combination's key
        scratch = out / "evals" / ".work"
        (scratch / "work").mkdir(parents=True, exist_ok=True)
        link = scratch / "work" / combo.key
        if dist.is_main and work.exists() and not link.exists():
            link.symlink_to(work.resolve(), target_is_directory=True)
        dist.barrier()
        started = time.time()
        record = run_combination(
            combo,
            scratch,
            threads=None,
            progress=args.progress,
            dist=dist,
            train=False,
            wandb=wandb_project(),
            trained=trained,
        )
    finally:
        dist.close()
    if not dist.is_main or record["status"] != "ok":
        return failure_code(record, dist)
    record.update(
        evaluated=str(target), test_file=args.test_file, trained_key=trained.key, eval_wall_s=time.time() - started
    )
    path = out / "evals" / f"{name}.json"
    atomic_write_json(path, record)
    record_path(scratch, combo).unlink(missing_ok=True)
    print_metrics(record["metrics"], path)
    return 0
