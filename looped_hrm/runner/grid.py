"""Benchmark definitions and their expansion into combinations (task × model × halting × seed).

A benchmark is a YAML file (``benchmarks/*.yaml``) or the same structure built from the command
line. Every plugin entry may carry a preset, config values and training overrides; a combination's
*resolved* config — every plugin config with its defaults filled in, the training and evaluation
settings, the seed — is hashed, and that hash is the combination's identity on disk (resume).
Resolution itself lives in `looped_hrm.resolve`, shared with every other command.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from looped_hrm.config import ConfigError, Source, build
from looped_hrm.evaluation import catalogue
from looped_hrm.evaluation.config import EvalConfig
from looped_hrm.registry import Registry
from looped_hrm.resolve import (
    Combination,
    Layer,
    check_device,
    check_extrapolation,
    check_model_builds,
    model_defaults,
    resolve_plugin,
    resolve_settings,
    skip_reason,
    time_budget_layer,
)
from looped_hrm.runner.sweep import apply_sweep
from looped_hrm.training.config import TrainConfig

__all__ = [
    "MAX_COMBINATIONS",
    "MAX_SEED",
    "BenchmarkConfig",
    "Combination",
    "Exclude",
    "Floor",
    "PluginEntry",
    "check_exclusions",
    "drop_exclusions_of",
    "expand",
    "load_benchmark",
]

MAX_SEED = 2**31 - 1
"""Seeds are 0..2**31-1: every RNG they seed (Python, NumPy, torch, and ``seed + 1`` for exploration) takes them."""

MAX_COMBINATIONS = 1_000_000
"""The largest grid a command expands: a larger one is a mistake (``--seeds 1e9``), refused before it
fills the memory; a grid of 100,000 dry-runs in seconds (benchmarks/test_load.py)."""

_SECTION = {"task": "tasks", "model": "models", "halting": "halting"}


@dataclass
class PluginEntry:
    """One task, model or halting policy of the grid.

    ``label`` names it in tables (default: the plugin name; give two entries of the same plugin
    different labels, e.g. ``sudoku4`` and ``sudoku6``). ``train`` and ``eval`` override the
    benchmark's training/evaluation settings for every combination that uses this entry.
    """

    plugin: str
    label: str | None = None
    preset: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)


def labels_match(wanted: tuple[str, str, str], labels: tuple[str, str, str]) -> bool:
    """Whether a (task, model, halting) pattern of a floor or an exclusion matches a cell's labels
    (``*`` matches any)."""
    return all(want in ("*", got) for want, got in zip(wanted, labels))


@dataclass
class Floor:
    """A CI floor: ``metric`` of the combination(s) labelled task/model/halting must be >= ``min``.

    ``*`` matches any label (the first matching floor applies). ``measured_mean``/``measured_std``
    record the seed spread the floor was derived from (`looped_hrm.report.floors`), so a reader sees
    the margin; ``baseline``/``baseline_value`` the best trivial baseline of the cell on ``metric``,
    which the floor must clear. ``dropped``: why the cell has no floor (none clears its baselines at
    this budget); CI skips it with that reason.
    """

    task: str
    model: str
    halting: str
    min: float | None = None
    metric: str = catalogue.key("exact_accuracy", "policy")
    measured_mean: float | None = None
    measured_std: float | None = None
    measured_seeds: int | None = None
    baseline: str | None = None
    baseline_value: float | None = None
    dropped: str | None = None

    def matches(self, labels: tuple[str, str, str]) -> bool:
        return labels_match((self.task, self.model, self.halting), labels)


@dataclass
class Exclude:
    """Cells left out of the grid's cross product: the task × model × halting combinations whose labels
    match (``*``, the default, matches any), e.g. one model's adaptive policy where only its fixed
    budget is wanted, or a new task paired with only the model it was added for. Unlike a skip,
    an excluded cell is not part of the grid: no record, no table row."""

    task: str = "*"
    model: str = "*"
    halting: str = "*"

    def matches(self, labels: tuple[str, str, str]) -> bool:
        return labels_match((self.task, self.model, self.halting), labels)


@dataclass
class BenchmarkConfig:
    """A whole grid: what to combine, with which budgets, and (for CI) the floors to hold."""

    name: str
    description: str = ""
    preset: str | None = None  # default preset for every plugin entry without its own
    seeds: list[int] = field(default_factory=lambda: [0])
    device: str = "auto"
    tasks: list[PluginEntry | str] = field(default_factory=list)
    models: list[PluginEntry | str] = field(default_factory=list)
    halting: list[PluginEntry | str] = field(default_factory=list)  # empty: each model's default_halting
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    floors: list[Floor] = field(default_factory=list)
    exclude: list[Exclude] = field(default_factory=list)

    def entries(self, kind: str) -> list[PluginEntry]:
        items = {"task": self.tasks, "model": self.models, "halting": self.halting}[kind]
        return [PluginEntry(plugin=e) if isinstance(e, str) else e for e in items]


def load_benchmark(data: Any, source: Source | str) -> BenchmarkConfig:
    """Validate a parsed benchmark YAML into a `BenchmarkConfig` (its ``sweep:`` section, if any,
    expanded into labelled entries first: `looped_hrm.runner.sweep`)."""
    if isinstance(data, dict) and "sweep" in data:
        data = apply_sweep(data, source.at(("sweep",)) if isinstance(source, Source) else f"{source}: sweep")
    bench = build(BenchmarkConfig, data, source)
    name = source if isinstance(source, str) else source.name
    at = source.at(("seeds",)) if isinstance(source, Source) else f"{source}: seeds"
    if not bench.seeds:
        raise ConfigError(f"{at}: no seeds")
    outside = [s for s in bench.seeds if not 0 <= s <= MAX_SEED]
    if outside:
        raise ConfigError(f"{at}: seed {outside[0]} is outside 0..{MAX_SEED}")
    repeated = sorted(s for s, n in Counter(bench.seeds).items() if n > 1)
    if repeated:
        raise ConfigError(
            f"{at}: seed {repeated[0]} is given twice (each seed is one run; the same seed twice "
            "would train the same combination twice, into the same folder)"
        )
    for i, floor in enumerate(bench.floors):
        if (floor.min is None) == (floor.dropped is None):
            where = source.at(("floors", str(i))) if isinstance(source, Source) else f"{source}: floors[{i}]"
            raise ConfigError(f"{where}: a floor gives either `min` or `dropped` (the reason the cell has none)")
    for kind in ("task", "model", "halting"):
        labels = [e.label or e.plugin for e in bench.entries(kind)]
        dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dupes:
            raise ConfigError(
                f"{name}: two {kind} entries are both labelled {dupes[0]!r}; give them distinct `label:` values"
            )
    check_exclusions(bench, source)
    return bench


def check_exclusions(bench: BenchmarkConfig, source: Source | str) -> None:
    """Every ``exclude:`` pattern names labels of the grid's entries (a typo would silently exclude
    nothing). A halting label is not checked when the grid names no policies (each model's own)."""
    for i, pattern in enumerate(bench.exclude):
        for kind in ("task", "model", "halting"):
            want = getattr(pattern, kind)
            labels = [e.label or e.plugin for e in bench.entries(kind)]
            if want == "*" or (kind == "halting" and not labels) or want in labels:
                continue
            where = source.at(("exclude", str(i), kind)) if isinstance(source, Source) else f"{source}: exclude[{i}]"
            raise ConfigError(f"{where}: no {kind} entry labelled {want!r} (entries: {', '.join(labels)})")


def drop_exclusions_of(data: dict[str, Any], kind: str, kept: list[str]) -> None:
    """After ``--tasks``/``--models``/``--halting`` selected entries of a benchmark file: the
    ``exclude:`` patterns that name a label no longer in the grid can match nothing, so they go."""
    data["exclude"] = [
        x for x in data.get("exclude") or [] if not isinstance(x, dict) or x.get(kind, "*") in ("*", *kept)
    ]


def _policies(
    registry: Registry,
    entries: list[dict[str, Any]],
    model: dict[str, Any],
    preset: str | None,
    source: Source,
    mi: int,
) -> list[tuple[int | None, dict[str, Any]]]:
    """The grid's halting entries (with their index), or, when it names none, the model's own policy
    (`ModelSpec.default_halting`) with no entry behind it."""
    if entries:
        return list(enumerate(entries))
    name = registry.default_halting(model["plugin"])
    own = resolve_plugin(registry, "halting", name, default_preset=preset, source=source, path=("models", str(mi)))
    return [(None, own)]


def expand(
    bench: BenchmarkConfig,
    registry: Registry,
    source: Source | str = "<benchmark>",
    *,
    time_budget: float | None = None,
    devices: bool = True,
) -> list[Combination]:
    """Every task × model × halting × seed combination, in that nesting order, fully resolved.

    Unknown plugin names or presets, invalid plugin configs, ``train:``/``eval:`` values and the
    device raise here (`ConfigError` naming file:line and key path), before anything runs.
    Combinations a model cannot run are kept with a ``skip_reason`` so that the tables say why
    they are empty. ``devices=False`` checks the device's name but not that this machine has it
    (a dry run of a GPU grid on a laptop).
    """
    source = Source(source) if isinstance(source, str) else source
    check_device(bench.device, source.at(("device",)), available=devices)
    entries = {kind: bench.entries(kind) for kind in ("task", "model", "halting")}
    resolved = {
        kind: [
            resolve_plugin(
                registry,
                kind,
                e.plugin,
                preset=e.preset,
                default_preset=bench.preset,
                config=e.config,
                label=e.label,
                source=source,
                path=(_SECTION[kind], str(i)),
            )
            for i, e in enumerate(items)
        ]
        for kind, items in entries.items()
    }
    size = len(resolved["task"]) * len(resolved["model"]) * len(resolved["halting"]) * len(bench.seeds)
    if size > MAX_COMBINATIONS:
        raise ConfigError(
            f"{source.name}: the grid has {size:,} combinations (tasks x models x halting x seeds); "
            f"at most {MAX_COMBINATIONS:,}"
        )
    tb_layer = time_budget_layer(time_budget)
    combos = []
    for ti, task in enumerate(resolved["task"]):
        for mi, model in enumerate(resolved["model"]):
            policies = [
                (hi, halting)
                for hi, halting in _policies(registry, resolved["halting"], model, bench.preset, source, mi)
                if not any(x.matches((task["label"], model["label"], halting["label"])) for x in bench.exclude)
            ]
            if policies:
                check_model_builds(
                    registry,
                    task,
                    model,
                    source.at(("models", str(mi), "config")),
                    source.at(("tasks", str(ti), "config")),
                )
            for hi, halting in policies:
                settings = {}
                for section, cls in (("train", TrainConfig), ("eval", EvalConfig)):
                    layers = [Layer(getattr(bench, section), source, (section,))]
                    if section == "train":
                        layers.insert(0, model_defaults(registry, model))
                    own = [("task", ti), ("model", mi)] + ([("halting", hi)] if hi is not None else [])
                    layers += [
                        Layer(getattr(entries[kind][i], section), source, (_SECTION[kind], str(i), section))
                        for kind, i in own
                    ]
                    if section == "train" and tb_layer is not None:
                        layers.append(tb_layer)
                    settings[section] = resolve_settings(cls, layers)
                    if section == "eval":
                        check_extrapolation(registry, task, settings["eval"], layers)
                reason = skip_reason(registry, task, model, halting)
                for seed in bench.seeds:
                    combos.append(
                        Combination(
                            task, model, halting, settings["train"], settings["eval"], seed, bench.device, reason
                        )
                    )
    return combos
