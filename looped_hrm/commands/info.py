"""``looped-hrm info --model M --task T``: parameters, depth and FLOPs of a model built for a task."""

from __future__ import annotations

import argparse
import json
from typing import Sequence

from tabulate import tabulate

from looped_hrm.config import ConfigError, Source, apply_overrides
from looped_hrm.registry import get_registry
from looped_hrm.resolve import instantiate, plugin_dataclass, resolve_plugin


def register(sub: argparse._SubParsersAction) -> None:
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
