"""Benchmark definitions and their expansion into combinations (task × model × halting × seed).

A benchmark is a YAML file (``benchmarks/*.yaml``) or the same structure built from the command
line. Every plugin entry may carry a preset, config values and training overrides; a combination's
*resolved* config — every plugin config with its defaults filled in, the training and evaluation
settings, the seed — is hashed, and that hash is the combination's identity on disk (resume).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from looped_hrm.config import ConfigError, Source, build, config_hash, plugin_config, to_dict
from looped_hrm.contracts import compatibility_problem
from looped_hrm.registry import Registry


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


@dataclass
class Floor:
    """A CI floor: ``metric`` of the combination(s) labelled task/model/halting must be >= ``min``.

    ``*`` matches any label (the first matching floor applies). ``measured_mean`` records the mean
    over seeds that the floor was set from (about 80% of it), so a reader sees the margin.
    """

    task: str
    model: str
    halting: str
    min: float
    metric: str = "policy/exact_accuracy"
    measured_mean: float | None = None
    measured_seeds: int | None = None


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
    halting: list[PluginEntry | str] = field(default_factory=lambda: ["act_q"])
    train: dict[str, Any] = field(default_factory=dict)
    eval: dict[str, Any] = field(default_factory=dict)
    floors: list[Floor] = field(default_factory=list)

    def entries(self, kind: str) -> list[PluginEntry]:
        items = {"task": self.tasks, "model": self.models, "halting": self.halting}[kind]
        return [PluginEntry(plugin=e) if isinstance(e, str) else e for e in items]


@dataclass
class Combination:
    """One cell of the grid, fully resolved: what a worker process needs to run it."""

    task: dict[str, Any]  # {"plugin", "label", "preset", "config"}
    model: dict[str, Any]
    halting: dict[str, Any]
    train: dict[str, Any]
    eval: dict[str, Any]
    seed: int
    device: str
    skip_reason: str | None = None

    @property
    def key(self) -> str:
        """Identity on disk: a hash of everything that changes the result (not the device)."""
        return config_hash(self.task, self.model, self.halting, self.train, self.eval, self.seed)

    @property
    def labels(self) -> tuple[str, str, str]:
        return self.task["label"], self.model["label"], self.halting["label"]

    @property
    def name(self) -> str:
        task, model, halting = self.labels
        return f"{task}/{model}/{halting}/seed{self.seed}"

    @property
    def file_stem(self) -> str:
        task, model, halting = self.labels
        return f"{task}__{model}__{halting}__s{self.seed}__{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_benchmark(data: Any, source: Source | str) -> BenchmarkConfig:
    """Validate a parsed benchmark YAML into a `BenchmarkConfig`."""
    bench = build(BenchmarkConfig, data, source)
    for kind in ("task", "model", "halting"):
        labels = [e.label or e.plugin for e in bench.entries(kind)]
        dupes = sorted({lab for lab in labels if labels.count(lab) > 1})
        if dupes:
            raise ConfigError(f"{source if isinstance(source, str) else source.name}: two {kind} entries are "
                              f"both labelled {dupes[0]!r}; give them distinct `label:` values")
    return bench


def _resolve_entry(registry: Registry, kind: str, entry: PluginEntry, default_preset: str | None,
                   source: Source | str, index: int) -> dict[str, Any]:
    """Plugin name -> canonical name, preset checked, config validated (defaults filled in)."""
    section = {"task": "tasks", "model": "models", "halting": "halting"}[kind]
    path = (section, str(index))
    spec = registry.get(kind, entry.plugin)
    preset = entry.preset or (default_preset if default_preset in spec.presets else None)
    config = plugin_config(spec, preset, entry.config, source, path + ("config",))
    return {"plugin": spec.name, "label": entry.label or entry.plugin, "preset": preset, "config": to_dict(config)}


def expand(bench: BenchmarkConfig, registry: Registry, source: Source | str = "<benchmark>") -> list[Combination]:
    """Every task × model × halting × seed combination, in that nesting order.

    Unknown plugin names and invalid configs raise here, before anything runs. Combinations a
    model cannot run are kept with a ``skip_reason`` so that the tables say why they are empty.
    """
    resolved = {
        kind: [(e, _resolve_entry(registry, kind, e, bench.preset, source, i)) for i, e in enumerate(bench.entries(kind))]
        for kind in ("task", "model", "halting")
    }
    combos = []
    for task_entry, task in resolved["task"]:
        for model_entry, model in resolved["model"]:
            for halt_entry, halting in resolved["halting"]:
                train = {**bench.train, **task_entry.train, **model_entry.train, **halt_entry.train}
                evaluation = {**bench.eval, **task_entry.eval, **model_entry.eval, **halt_entry.eval}
                reason = skip_reason(registry, task, model, halting)
                for seed in bench.seeds:
                    combos.append(Combination(task, model, halting, train, evaluation, seed, bench.device, reason))
    return combos


def skip_reason(registry: Registry, task: dict, model: dict, halting: dict) -> str | None:
    """Why this model cannot run this policy on this task, or None.

    The same rule as the engine's (`contracts.compatibility_problem`). The model is asked through
    its class attribute when the factory is the class, so no weights are built.
    """
    halt_spec = registry.get("halting", halting["plugin"])
    model_spec = registry.get("model", model["plugin"])
    policy = halt_spec.factory(build(halt_spec.config, halting["config"]))
    levels = getattr(model_spec.factory, "halting_levels", None)
    if levels is None:  # factory is not the class: build the model to ask it
        task_spec = registry.get("task", task["plugin"])
        task_obj = task_spec.factory(build(task_spec.config, task["config"]))
        levels = model_spec.factory(build(model_spec.config, model["config"]), task_obj.info).halting_levels
    problem = compatibility_problem(frozenset(levels), policy)
    return f"model '{model['label']}': {problem}" if problem else None
