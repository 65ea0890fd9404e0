"""What ``train`` and ``eval`` share: one combination resolved from the command line exactly as a
one-cell grid would resolve it (same key), and how a single run reports its outcome."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from tabulate import tabulate

from looped_hrm.config import ConfigError, Source, apply_overrides, parse_override
from looped_hrm.evaluation import catalogue
from looped_hrm.resolve import Combination, file_fingerprint, fingerprint_data, resolve_combination
from looped_hrm.runner.defaults import DEFAULT_PRESET, default_train_eval

COMBINATION_NAME = "combination.json"
HEADLINE = (
    catalogue.key("examples", "policy"),
    catalogue.key("exact_accuracy", "policy"),
    catalogue.key("token_accuracy", "policy"),
    catalogue.key("mean_segments", "policy"),
    catalogue.key("exact_accuracy", "fixed"),
    catalogue.key("token_accuracy", "fixed"),
    catalogue.key("train/steps"),
    catalogue.key("train/epochs"),
    catalogue.key("train/examples_per_s"),
    catalogue.key("train/wall_s"),
    catalogue.key("data/test_rows"),
    catalogue.key("data/removed_by_limit"),
    catalogue.key("data/test_distinct"),
    catalogue.key("data/test_in_train"),
)


def resolve(
    task: str,
    model: str,
    halting: str | None,
    preset: str | None,
    sets: Sequence[str],
    seed: int,
    device: str,
    fingerprint: bool = True,
) -> Combination:
    """The combination a one-cell grid with these entries and ``--set`` values would run (same key).

    The preset's default budget (`default_train_eval`) applies as it does for ``python -m
    looped_hrm.bench --tasks T --models M``; ``--set section.key=value`` overrides task, model,
    halting, train or eval values, and errors name the option that gave the bad value.
    ``fingerprint=False`` builds no data (`eval` of a checkpoint trained elsewhere: the preset's
    training data is not what it was trained on, and building it can take minutes).
    """
    preset = preset or DEFAULT_PRESET
    train, evaluation = default_train_eval(preset)
    values = apply_overrides({"train": train, "eval": evaluation}, list(sets))
    unknown = sorted(set(values) - {"task", "model", "halting", "train", "eval"})
    if unknown:
        raise ConfigError(
            f"--set: unknown section(s) {unknown} (expected task.*, model.*, halting.*, train.* or eval.*)"
        )
    source = Source("--set", overrides={parse_override(text)[0]: f"--set {text}" for text in sets})
    combo = resolve_combination(
        task,
        model,
        halting,
        preset=preset,
        task_config=values.get("task"),
        model_config=values.get("model"),
        halting_config=values.get("halting"),
        train=values["train"],
        eval=values["eval"],
        seed=seed,
        device=device,
        source=source,
    )
    if combo.skip_reason:
        raise ConfigError(combo.skip_reason)
    if fingerprint:
        fingerprint_data([combo])  # the data is part of the identity, as in a grid (and its test lengths checked)
        if combo.skip_reason:
            raise ConfigError(combo.skip_reason)
    elif combo.train.get("init_from"):  # no data to fingerprint, but the checkpoint must be readable
        file_fingerprint(combo.train["init_from"], "train.init_from")
    return combo


def failure_code(record: dict, dist) -> int:
    """Exit code of a rank that writes nothing (0/1) or of a failed run (1, its error printed on rank 0)."""
    if dist.is_main and record["status"] != "ok":
        print(f"error: {record['error']}", file=sys.stderr)
    return 0 if record["status"] == "ok" else 1


def print_metrics(metrics: dict[str, Any], where: Path) -> None:
    """The headline metrics of one run, under the halting policy it used (the model's own unless asked),
    what its test split held, and every trivial baseline's exact accuracy (on the task's own test split;
    the record holds those of every ``eval.extrapolate`` split too)."""
    baselines = sorted(
        k
        for k in metrics
        if (ref := catalogue.lookup(k))
        and ref.variant is None
        and ref.mode
        and ref.mode.startswith(catalogue.BASELINE)
        and ref.name == "exact_accuracy"
        and ref.bucket is None
    )
    shown = [k for k in metrics if k in HEADLINE] + baselines
    rows = [["halting", metrics.get("policy", "?")]]
    rows += [[k, f"{v:.4g}" if isinstance(v, float) else v] for k in shown if (v := metrics[k]) is not None]
    print(tabulate(rows, tablefmt="plain"))
    print(f"-> {where}")
