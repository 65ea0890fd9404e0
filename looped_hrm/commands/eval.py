"""``looped-hrm eval DIR``: evaluate the run in ``DIR`` (finished or partial; in a benchmark's results
folder, the finished run ``--key`` names) on its task's test split,
or on a file of the user's (``--test-file``: a Sudoku CSV, a maze JSONL or CSV — whatever the task's
``test_file`` accepts; ARC's ``test_file``, a folder of ARC JSON tasks, is for training since every
ARC task has its own puzzle embedding), and write the same metrics as the record to
``DIR/evals/<name>-<hash>.json``. ``--set eval.KEY=VALUE`` changes how a run is evaluated, not
what was trained: test a finished run at sizes it was not tested at
(``--set 'eval.extrapolate={test_size: [51]}'``) or for more iterations, without training again.
``--halting NAME`` (with ``--set halting.KEY=VALUE``) evaluates the run's weights under another
halting policy, one that needs nothing the run did not train: a run trained under ``fixed`` asked
whether a label-free rule (``converged``, ``verifier``) stops where the fixed-budget curve peaks.
``eval CHECKPOINT --task T --model M --preset P`` evaluates a checkpoint of the official HRM/TRM
code instead (``looped_hrm.training.official``).

Only the run's own weights are ever scored: the checkpoint in ``DIR/work/<key>/`` (the folder as
it lies now: copied or moved, a run folder holds no link to anywhere else) is checked before
anything runs, and a missing, empty, truncated or foreign one is refused in one line
(`check_checkpoint`). ``<hash>`` keys a result by the evaluated data's content, the evaluation's
settings and the weights (`result_name`), so one evaluation never replaces another.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from looped_hrm.atomic import atomic_write_json
from looped_hrm.commands.guards import bounded, holding
from looped_hrm.commands.one_run import COMBINATION_NAME, failure_code, print_metrics, resolve
from looped_hrm.config import (
    MAX_INT,
    ConfigError,
    Source,
    apply_overrides,
    build,
    config_hash,
    parse_override,
    to_dict,
)
from looped_hrm.engine.distributed import Dist
from looped_hrm.evaluation.config import MAX_EVAL_SEGMENTS, EvalConfig
from looped_hrm.registry import get_registry
from looped_hrm.report.records import read_records
from looped_hrm.resolve import Combination, instantiate, resolve_plugin, skip_reason
from looped_hrm.runner.worker import run_combination
from looped_hrm.training.checkpoint import checkpoint_path, load_run_checkpoint
from looped_hrm.training.wandb_logger import wandb_project


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a run folder (finished or partial) or an official HRM/TRM checkpoint",
        description="Evaluate a trained run, optionally on your own test file; writes DIR/evals/<name>-<hash>.json.",
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
    for flag in ("--task", "--model", "--preset"):
        p.add_argument(flag, default=None, help="for a checkpoint of the official code")
    p.add_argument(
        "--halting",
        default=None,
        help="for a run folder: evaluate under this halting policy instead of the run's own "
        "(one that needs no head the run did not train, e.g. converged); for a checkpoint: its policy",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="for a run folder: eval.* and halting.* settings (e.g. 'eval.extrapolate={test_size: [51]}'); "
        "for a checkpoint: any config override",
    )
    p.set_defaults(func=cmd_eval, saved="nothing was written")


def _load_combination(run_dir: Path, key: str | None) -> Combination:
    """The combination trained in ``run_dir``: ``work/<key>/combination.json`` of a ``train --out``
    folder, else the record in ``runs/`` of a benchmark's results folder (``run``), for each run whose
    ``work/<key>/`` is there."""
    found: list[tuple[Path, Any, str]] = []  # (the file describing the run, its combination, the run's key)
    for path in sorted(run_dir.glob(f"work/{key or '*'}/{COMBINATION_NAME}")):
        try:
            found.append((path, json.loads(path.read_text()), path.parent.name))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            cause = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise ConfigError(f"{path}: not a readable combination ({cause})") from None
    if not found and (run_dir / "runs").is_dir():
        trained = {p.name for p in run_dir.glob(f"work/{key or '*'}") if p.is_dir()}
        found = [
            (path, record["combination"], record["key"])
            for path, record in read_records(run_dir / "runs")
            if record.get("key") in trained and record.get("status") == "ok"
        ]
    if not found:
        raise ConfigError(
            f"{run_dir}: no run{f' {key}' if key else ''} here (expected work/<key>/{COMBINATION_NAME}, "
            "written by `python -m looped_hrm train --out DIR`, or a finished run's record in runs/ beside "
            "its work/<key>/, written by `looped-hrm run`)"
        )
    if len(found) > 1:
        keys = ", ".join(sorted(run for _, _, run in found))
        raise ConfigError(f"{run_dir}: {len(found)} runs ({keys}); choose one with --key")
    path, data, run = found[0]
    try:
        combo = Combination(**data)
        key = combo.key
    except (ValueError, TypeError, AttributeError) as exc:
        cause = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise ConfigError(f"{path}: not a readable combination ({cause})") from None
    if key != run:
        raise ConfigError(f"{path}: describes run {key}, not run {run} (copied from another run?)")
    return combo


WHOLE_FILE = {"num_test": -1, "test_difficulty": [], "dedup": "none"}
"""Task config values that make a test split every usable example of its ``test_file`` (the names the
built-in tasks use; a field a task does not have is left alone)."""


def eval_overrides(trained: Combination, sets: list[str]) -> dict[str, Any]:
    """The run's evaluation settings with ``--set eval.KEY=VALUE`` applied, validated; a key outside
    ``eval.`` and ``halting.`` (`eval_policy`) is refused in one line naming it: the task, the model
    and the training are what the checkpoint was trained with, and changing them would score weights
    under another config."""
    for text in sets:
        path, _ = parse_override(text)
        if path[0] not in ("eval", "halting") or len(path) < 2:
            raise ConfigError(
                f"--set {text!r}: a run folder's task, model and training are fixed by its checkpoint; "
                "only eval.* and halting.* settings can be changed"
            )
    settings = apply_overrides({"eval": trained.eval}, _under("eval", sets))["eval"]
    build(EvalConfig, settings, "--set", ("eval",))  # unknown keys and bad values, named
    return settings


def _under(section: str, sets: list[str]) -> list[str]:
    """The ``--set`` values whose key is under ``section.``."""
    return [text for text in sets if parse_override(text)[0][0] == section]


def eval_policy(trained: Combination, name: str | None, sets: list[str]) -> dict[str, Any]:
    """The halting policy the run's weights are evaluated under: the run's own, or ``--halting
    NAME``, with ``--set halting.KEY=VALUE`` over it (over the run's own config when no name is
    given), resolved as a run resolves it. Refused in one line: a policy the model cannot run, and
    one that reads a halting head the run never trained (its decisions would be the head's initial
    bias, not anything learned)."""
    changes = _under("halting", sets)
    if name is None and not changes:
        return trained.halting
    registry = get_registry()
    plugin: str = trained.halting["plugin"] if name is None else name
    own = plugin == trained.halting["plugin"]
    values = apply_overrides({"halting": trained.halting["config"] if own else {}}, changes)["halting"]
    blame = {("halting", "config", *parse_override(text)[0][1:]): f"--set {text}" for text in changes}
    source = Source("--halting", overrides=blame)
    halting = resolve_plugin(registry, "halting", plugin, config=values, source=source, path=("halting",))
    reason = skip_reason(registry, trained.task, trained.model, halting)
    if reason is not None:
        raise ConfigError(f"--halting {plugin}: {reason}")
    if instantiate(registry, "halting", halting).needs_q_head and not (
        instantiate(registry, "halting", trained.halting).needs_q_head
    ):
        raise ConfigError(
            f"--halting {plugin}: it reads the halting head, which run {trained.key} never trained "
            f"(trained under '{trained.halting['label']}'); choose a policy that reads no head "
            "(fixed, converged, verifier with --set halting.fallback=fixed, oracle)"
        )
    return halting


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


def check_test_data(combo: Combination, test_file: str) -> None:
    """The evaluated split builds from ``test_file`` (then cached on disk for the evaluation), or a
    `ConfigError` quoting the task's own complaint: a file that is missing or malformed is bad input,
    refused before anything runs as `train` refuses its data, not a failed evaluation."""
    try:
        instantiate(get_registry(), "task", combo.task).build(combo.eval["split"])
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError, LookupError) as exc:
        text = str(exc).strip()
        raise ConfigError(f"--test-file {test_file}: {text.splitlines()[0] if text else type(exc).__name__}") from None


def check_checkpoint(workdir: Path, trained: Combination) -> None:
    """The run's own weights are in ``workdir``, or a `ConfigError` naming the file and what is wrong:
    evaluating anything else (nothing trained, another run's, a truncated file) is never a result."""
    built = trained.build()
    load_run_checkpoint(checkpoint_path(workdir), built.model(), key=trained.key, train_config=to_dict(built.train))


def result_name(record: dict[str, Any], combo: Combination, trained: Combination, label: str) -> str:
    """``<label>-<hash>``: the hash of what the result depends on — the evaluated data's content
    (not its file name), the evaluation's settings, the weights (run key and step) — so two
    evaluations never share a file unless they are the same evaluation."""
    split = combo.eval["split"]
    parts = [record["data"].get(split), combo.eval, trained.key, record["metrics"].get("train/steps")]
    if combo.halting != trained.halting:  # (the run's own policy adds nothing: earlier names stay)
        parts.append(combo.halting)
    digest = config_hash(*parts, length=10)
    return f"{label}-{digest}"


def cmd_eval(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if bounded("--max-segments", args.max_segments, 1, MAX_EVAL_SEGMENTS, "a number of segments") is not None:
        overrides.update(max_segments=args.max_segments, fixed_segments=args.max_segments)
    if bounded("--limit", args.limit, 1, MAX_INT, "a number of test examples") is not None:
        overrides["limit"] = args.limit
    dist, device = Dist.from_env(args.device or "auto")
    target = Path(args.run)
    try:
        workdir: Path | None
        if target.is_dir():
            if args.task or args.model:
                raise ConfigError(f"{target} is a run folder: its task and model come from it (drop --task/--model)")
            trained = _load_combination(target, args.key)
            out, workdir = target, target / "work" / trained.key  # the folder's own weights, wherever it lies
            check_checkpoint(workdir, trained)
            overrides = {**eval_overrides(trained, args.set), **overrides}
            halting = eval_policy(trained, args.halting, args.set)
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
            out, workdir = Path(args.out or Path("results") / f"eval_{target.stem}"), None  # weights: init_from
            halting = trained.halting
        combo = dataclasses.replace(_with_test_data(trained, args.test_file, overrides), halting=halting)
        if args.test_file is not None:
            check_test_data(combo, args.test_file)
        with holding(out / "evals", "eval", dist):
            started = time.time()
            record = run_combination(
                combo,
                out,
                threads=None,
                progress=args.progress,
                dist=dist,
                train=False,
                wandb=wandb_project(),
                trained=trained,
                workdir=workdir,
                write=False,
            )
            if dist.is_main and record["status"] == "ok":
                record.update(
                    evaluated=str(target),
                    test_file=args.test_file,
                    trained_key=trained.key,
                    eval_wall_s=time.time() - started,
                )
                label = Path(args.test_file).stem if args.test_file else combo.eval["split"]
                path = atomic_write_json(out / "evals" / f"{result_name(record, combo, trained, label)}.json", record)
    finally:
        dist.close()
    if not dist.is_main or record["status"] != "ok":
        return failure_code(record, dist)
    print_metrics(record["metrics"], path)
    return 0
