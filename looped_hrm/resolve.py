"""Resolve a combination once, before anything runs.

Every command that trains, evaluates, estimates or inspects a (task, model, halting policy) goes
through this module, so they all mean the same thing by the same command line:

* `resolve_plugin` — a plugin name (or alias), a preset and the user's values -> the canonical name
  and the *complete* config (dataclass defaults, then the preset, then the values), validated;
* `resolve_settings` — layers of ``train:`` / ``eval:`` values (benchmark, then per-entry, then
  ``--time-budget``) -> one complete, validated `TrainConfig` / `EvalConfig` as a dict;
* `check_device` — ``auto``, ``cpu``, ``cuda[:N]`` checked against this torch build;
* `resolve_combination` — all of the above for one cell of a grid: a `Combination`.

A `Combination` is plain data (what a worker process receives) whose `Combination.key` hashes
everything that determines its result; `Combination.build` turns it back into objects. Every
problem is a `ConfigError` naming the file, line and key path, raised before any process starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from looped_hrm.config import ConfigError, Source, build, config_hash, convert_fields, plugin_config, to_dict
from looped_hrm.contracts import HaltingPolicy, HaltingSpec, ReasoningModel, Task, TaskInfo, compatibility_problem
from looped_hrm.evaluation.config import EvalConfig, variant_label
from looped_hrm.registry import Origin, Registry, get_registry
from looped_hrm.training.config import TrainConfig

Blame = Callable[[str], str]
"""key -> where that key's value was given (``file:line: a.b.key``), for error messages."""


@dataclass(frozen=True)
class Layer:
    """One source of ``train:`` or ``eval:`` values; later layers override earlier ones."""

    values: Mapping[str, Any] | None
    source: Source
    path: tuple[str, ...]
    label: str | None = None  # blame this instead of the file position (e.g. "--time-budget 60")

    def blame(self, key: str) -> str:
        return f"{self.label}: {key}" if self.label else self.source.at(self.path + (key,))


def _source(source: Source | str) -> Source:
    return Source(source) if isinstance(source, str) else source


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def resolve_plugin(
    registry: Registry,
    kind: str,
    name: str,
    *,
    preset: str | None = None,
    default_preset: str | None = None,
    config: Mapping[str, Any] | None = None,
    label: str | None = None,
    source: Source | str = "<config>",
    path: tuple[str, ...] = (),
    config_path: tuple[str, ...] | None = None,
    preset_path: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """``{"plugin", "label", "preset", "config"}`` with ``config`` complete and validated (and ``wraps``,
    the resolved policy a halting policy delegates to: `HaltingSpec.wraps`).

    ``preset`` is the entry's own preset (must exist). ``default_preset`` is the grid-wide one: a
    model must have it (it sizes the network; a silent fallback would build the default — often
    paper-size — model); a task without it runs on its defaults, with a warning that says so; a
    halting policy uses it only if it has one of that name (its presets are variants, not sizes).
    Errors name ``path`` (the entry), ``config_path`` and ``preset_path`` (default: under ``path``).
    """
    source = _source(source)
    spec = registry.get(kind, name)
    if preset is not None and preset not in spec.presets:
        raise ConfigError(
            f"{source.at(preset_path or path + ('preset',))}: {kind} '{spec.name}' has no preset '{preset}'"
            f"{_did_you_mean(preset, list(spec.presets))} (presets: {', '.join(spec.presets) or 'none'})"
        )
    if preset is None and default_preset is not None:
        if default_preset in spec.presets:
            preset = default_preset
        elif kind == "model":
            raise ConfigError(
                f"{source.at(('preset',))}: model '{spec.name}' has no preset '{default_preset}'"
                f"{_did_you_mean(default_preset, list(spec.presets))} "
                f"(presets: {', '.join(spec.presets) or 'none'})"
            )
        elif kind == "task" and any(
            default_preset in registry.get("model", m).presets for m in registry.names("model")
        ):
            # (a preset no model has is a typo: the model's error above says so, without this warning first)
            _warn_once(
                f"{source.at(('preset',))}: task '{spec.name}' has no preset '{default_preset}' "
                f"(presets: {', '.join(spec.presets) or 'none'}): it runs with its defaults; give the task a "
                "preset of its own (`preset:` in its grid entry, --task-preset)"
            )
    resolved = to_dict(plugin_config(spec, preset, config, source, config_path or path + ("config",)))
    origin = registry.entry(kind, spec.name).origin
    out = {
        "plugin": spec.name,
        "label": label or name,
        "preset": preset,
        "config": resolved,
        "package": origin.package,
        "version": _code_version(origin),
        "revision": spec.revision,
    }
    field = spec.wraps if isinstance(spec, HaltingSpec) else None
    if field is not None:  # the policy it delegates to, resolved like any other (HaltingSpec.wraps)
        out["wraps"] = resolve_plugin(
            registry,
            kind,
            resolved[field],
            preset=resolved.get(f"{field}_preset"),
            config=resolved.get(f"{field}_config"),
            source=source,
            path=path + ("config", field),
            config_path=path + ("config", f"{field}_config"),
            preset_path=path + ("config", f"{field}_preset"),
        )
    return out


@functools.cache
def _warn_once(message: str) -> None:
    """One warning line on stderr per message and process (a grid resolves an entry for every seed)."""
    print(f"warning: {message}", file=sys.stderr)


def _code_version(origin: Origin) -> str:
    """The plugin package's version; for a module loaded from ``LOOPED_HRM_PLUGINS`` (no package
    version) a hash of its source file, so an edited local plugin is a new key."""
    if origin.version != "local":
        return origin.version
    module = sys.modules.get(origin.plugin)
    path = getattr(module, "__file__", None)
    try:
        return "local-" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12] if path else "local"
    except OSError:
        return "local"


def resolve_settings(cls: type, layers: Sequence[Layer]) -> dict[str, Any]:
    """Merge ``train:`` / ``eval:`` layers into one complete ``cls`` (TrainConfig or EvalConfig) as a dict.

    Each layer's keys and types are checked where they were written; the merged whole is then
    validated, and a rule it breaks (``steps must be > 0``) is blamed on the layer that set the key.
    """
    merged: dict[str, Any] = {}
    blame: dict[str, Blame] = {}
    for layer in layers:
        if layer.values is None:
            continue
        values = convert_fields(cls, layer.values, layer.source, layer.path)
        merged.update(values)
        blame.update({key: layer.blame for key in values})
    try:
        return to_dict(cls(**merged))
    except (TypeError, ValueError) as exc:
        key = str(exc).split(" ", 1)[0]
        where = blame[key](key) if key in blame else (layers[0].source.at(layers[0].path) if layers else cls.__name__)
        raise ConfigError(f"{where}: {exc}") from exc


def check_device(device: str, where: str = "--device", *, available: bool = True) -> str:
    """``device`` if it names one (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) and, with
    ``available``, this machine can run on it."""
    import torch

    if device == "auto":
        return device
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"{where}: unknown device {device!r} (expected auto, cpu, cuda, cuda:N or mps)") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"{where}: unsupported device {device!r} (expected auto, cpu, cuda, cuda:N or mps)")
    if not available:
        return device
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build_kind = "a CPU-only build" if torch.version.cuda is None else "a CUDA build, but no GPU is visible"
            raise ConfigError(f"{where}: {device!r} is not available: torch {torch.__version__} is {build_kind}")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"{where}: {device!r} is not available: {torch.cuda.device_count()} GPU(s) visible")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{where}: 'mps' is not available on this machine")
    return device


@dataclass
class Built:
    """A combination as objects: the task, the policy, the validated settings, and the model's factory."""

    task: Task
    policy: HaltingPolicy
    train: TrainConfig
    eval: EvalConfig
    model_config: Any
    model_factory: Callable[..., ReasoningModel]
    test_tasks: dict[str, Task] = dataclasses.field(default_factory=dict)  # eval.extrapolate: label -> task

    def model(self) -> ReasoningModel:
        """A fresh model (seed first: its initial weights follow the global RNG)."""
        return self.model_factory(self.model_config, self.task.info)


@dataclass
class Combination:
    """One cell of the grid, fully resolved: what a worker process needs to run it.

    ``task``/``model``/``halting`` are `resolve_plugin` dicts (with the package version and the
    plugin's revision); ``train``/``eval`` are complete `TrainConfig`/`EvalConfig` dicts (every
    default filled in, so a changed default is a new key); ``data`` is filled by `fingerprint_data`.
    """

    task: dict[str, Any]
    model: dict[str, Any]
    halting: dict[str, Any]
    train: dict[str, Any]
    eval: dict[str, Any]
    seed: int
    device: str
    skip_reason: str | None = None
    data: dict[str, str] | None = None  # split -> content fingerprint of the data used (`fingerprint_data`)

    @property
    def key(self) -> str:
        """Identity on disk: a hash of everything that changes the result (not the device): the
        resolved configs, the plugins' package versions and revisions, the data's fingerprint."""
        return config_hash(self.task, self.model, self.halting, self.train, self.eval, self.seed, self.data)

    @property
    def labels(self) -> tuple[str, str, str]:
        return self.task["label"], self.model["label"], self.halting["label"]

    @property
    def name(self) -> str:
        task, model, halting = self.labels
        return f"{task}/{model}/{halting}/seed{self.seed}"

    @property
    def file_stem(self) -> str:
        return record_stem(*self.labels, self.seed, self.key)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def build(self, registry: Registry | None = None) -> Built:
        """The objects this combination describes (no data is built, no weights are made)."""
        registry = registry or get_registry()
        return Built(
            task=instantiate(registry, "task", self.task),
            policy=instantiate(registry, "halting", self.halting),
            train=build(TrainConfig, self.train, "train", ("train",)),
            eval=build(EvalConfig, self.eval, "eval", ("eval",)),
            model_config=plugin_dataclass(registry, "model", self.model),
            model_factory=registry.get("model", self.model["plugin"]).factory,
            test_tasks=variant_tasks(registry, self.task, self.eval.get("extrapolate") or {}),
        )


def record_stem(task: str, model: str, halting: str, seed: int, key: str) -> str:
    """The name of a combination's files in a results folder (``runs/<stem>.json``, its samples)."""
    return f"{task}__{model}__{halting}__s{seed}__{key}"


def variant_tasks(registry: Registry, task: Mapping[str, Any], extrapolate: Mapping[str, list]) -> dict[str, Task]:
    """The tasks of ``eval.extrapolate``: ``key=value`` -> the task with that config key set (only
    their test splits are used). ValueError names an unknown key or a value the task refuses."""
    spec = registry.get("task", task["plugin"])
    names = [f.name for f in dataclasses.fields(spec.config)]
    out: dict[str, Task] = {}
    for key, values in extrapolate.items():
        if key not in names:
            raise ValueError(f"task '{task['label']}' has no config key '{key}'{_did_you_mean(key, names)}")
        for value in values:
            try:
                config: Any = build(
                    spec.config, {**task["config"], key: value}, f"task '{task['label']}' with {key}={value!r}"
                )
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
            label = variant_label(key, value)
            if label in out:
                raise ValueError(f"{key}: two values are both shown as {label!r}")
            out[label] = spec.factory(config)
    return out


def check_extrapolation(
    registry: Registry, task: Mapping[str, Any], eval_settings: Mapping[str, Any], layers: Sequence[Layer]
) -> None:
    """`variant_tasks` of a resolved ``eval:`` section, as a `ConfigError` at the layer that set
    ``extrapolate``."""
    try:
        variant_tasks(registry, task, eval_settings.get("extrapolate") or {})
    except ValueError as exc:
        where = next(
            (
                layer.blame("extrapolate")
                for layer in reversed(layers)
                if layer.values and "extrapolate" in layer.values
            ),
            "eval.extrapolate",
        )
        raise ConfigError(f"{where}: {exc}") from None


def plugin_dataclass(registry: Registry, kind: str, resolved: Mapping[str, Any]) -> Any:
    """The config dataclass of a `resolve_plugin` dict."""
    return build(registry.get(kind, resolved["plugin"]).config, resolved["config"])


def instantiate(registry: Registry, kind: str, resolved: Mapping[str, Any]) -> Any:
    """The task or halting policy a `resolve_plugin` dict describes (models need the task: `Built.model`);
    a policy that wraps another gets it built (`HaltingSpec.wraps`)."""
    spec = registry.get(kind, resolved["plugin"])
    config = plugin_dataclass(registry, kind, resolved)
    if isinstance(spec, HaltingSpec) and spec.wraps is not None and "wraps" in resolved:
        return spec.factory(config, **{spec.wraps: instantiate(registry, kind, resolved["wraps"])})
    return spec.factory(config)


def build_policy(
    name: str, preset: str | None = None, config: Mapping[str, Any] | None = None, *, registry: Registry | None = None
) -> HaltingPolicy:
    """The halting policy ``name`` with ``config`` over its ``preset``, resolved and built as a run builds it
    (with any policy it wraps): for tests and notebooks."""
    registry = registry or get_registry()
    return instantiate(registry, "halting", resolve_plugin(registry, "halting", name, preset=preset, config=config))


def skip_reason(registry: Registry, task: dict, model: dict, halting: dict) -> str | None:
    """Why this model cannot run this policy on this task, or None.

    The same rule as the engine's (`contracts.compatibility_problem`). The model is asked through
    its class attribute when the factory is the class, so no weights are built.
    """
    model_spec = registry.get("model", model["plugin"])
    policy = instantiate(registry, "halting", halting)
    levels = getattr(model_spec.factory, "halting_levels", None)
    if levels is None:  # factory is not the class: build the model to ask it
        task_obj = instantiate(registry, "task", task)
        levels = model_spec.factory(plugin_dataclass(registry, "model", model), task_obj.info).halting_levels
    problem = compatibility_problem(frozenset(levels), policy)
    return f"model '{model['label']}': {problem}" if problem else None


def check_model_builds(
    registry: Registry, task: Mapping[str, Any], model: Mapping[str, Any], where: str, task_where: str
) -> None:
    """Build the model for the task on PyTorch's ``meta`` device (shapes only: no memory, no time),
    so a config the model's constructor refuses (a head size RoPE cannot split, ...) stops the
    command here instead of failing every worker. A model that cannot be built on ``meta`` at all
    (it reads tensor values while constructing) is left to the worker."""
    import torch

    spec = registry.get("model", model["plugin"])
    try:
        info = instantiate(registry, "task", task).info
    except (ValueError, TypeError, AssertionError) as exc:
        raise ConfigError(f"{task_where}: task '{task['label']}' cannot be built: {_first_line(exc)}") from None
    try:
        with torch.device("meta"):
            spec.factory(plugin_dataclass(registry, "model", model), info)
    except (ValueError, TypeError, AssertionError) as exc:  # not RuntimeError: what meta tensors cannot do
        if "meta" in str(exc):
            return
        raise ConfigError(
            f"{where}: model '{model['label']}' cannot be built for task '{task['label']}': {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def time_budget_layer(seconds: float | None) -> Layer | None:
    """``--time-budget S``: train for exactly S seconds; replaces every step and epoch budget."""
    if seconds is None:
        return None
    return Layer(
        {"time_budget_s": seconds, "steps": None, "epochs": None},
        Source("--time-budget"),
        (),
        label=f"--time-budget {seconds:g}",
    )


def model_defaults(registry: Registry, model: Mapping[str, Any]) -> Layer:
    """The lowest ``train:`` layer of a combination: what the model's own recipe sets
    (`ModelSpec.default_loss`), which any ``train:`` value of a file or command line overrides."""
    plugin = model["plugin"]
    return Layer({"loss": registry.default_loss(plugin)}, Source("<model>"), ("train",), label=f"{plugin}'s default")


def resolve_combination(
    task: str,
    model: str,
    halting: str | None = None,
    *,
    preset: str | None = None,
    task_preset: str | None = None,
    task_config: Mapping[str, Any] | None = None,
    model_config: Mapping[str, Any] | None = None,
    halting_config: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    eval: Mapping[str, Any] | None = None,
    seed: int = 0,
    device: str = "auto",
    time_budget: float | None = None,
    source: Source | str = "<command line>",
    registry: Registry | None = None,
) -> Combination:
    """One combination from a command line (``train``, ``eval``, ``info``, ``speed``); see `expand` for grids.

    ``preset`` is the default preset of all three (the model must have it); ``task_preset`` the
    task's own. ``train``/``eval`` default to the empty layer (the config classes' defaults); ``train`` must then
    hold a budget (steps, epochs or time_budget_s) unless ``time_budget`` is given. ``halting`` None:
    the model's own policy (`ModelSpec.default_halting`).
    """
    registry = registry or get_registry()
    source = _source(source)
    halting = halting or registry.default_halting(model)
    resolved = {
        kind: resolve_plugin(
            registry, kind, name, preset=own, default_preset=preset, config=values, source=source, path=(kind,)
        )
        for kind, name, own, values in (
            ("task", task, task_preset, task_config),
            ("model", model, None, model_config),
            ("halting", halting, None, halting_config),
        )
    }
    train_layers = [model_defaults(registry, resolved["model"]), Layer(train or {}, source, ("train",))]
    if (tb := time_budget_layer(time_budget)) is not None:
        train_layers.append(tb)
    check_model_builds(registry, resolved["task"], resolved["model"], source.at(("model",)), source.at(("task",)))
    eval_layers = [Layer(eval or {}, source, ("eval",))]
    eval_settings = resolve_settings(EvalConfig, eval_layers)
    check_extrapolation(registry, resolved["task"], eval_settings, eval_layers)
    return Combination(
        resolved["task"],
        resolved["model"],
        resolved["halting"],
        resolve_settings(TrainConfig, train_layers),
        eval_settings,
        seed,
        check_device(device),
        skip_reason(registry, resolved["task"], resolved["model"], resolved["halting"]),
    )


def data_fingerprint(
    task: Any,
    splits: Sequence[str],
    init_from: str | None = None,
    variants: Mapping[str, Task] | None = None,
) -> dict[str, str]:
    """split -> content hash of the data ``task`` builds for it (`looped_hrm.cache.split_fingerprint`),
    ``<split>@<label>`` -> the hash of each extrapolation task's (``variants``) last split of
    ``splits`` (the evaluated one), and ``init_from`` -> the hash of the checkpoint training starts
    from, when it starts from one."""
    from looped_hrm.cache import split_fingerprint

    prints = {split: split_fingerprint(task.build(split)) for split in dict.fromkeys(splits)}
    for label, variant in (variants or {}).items():
        prints[f"{splits[-1]}@{label}"] = split_fingerprint(variant.build(splits[-1]))
    if init_from:
        prints["init_from"] = file_fingerprint(init_from, "train.init_from")
    return prints


def file_fingerprint(path: str | Path, option: str) -> str:
    """The content hash of a file the user named with ``option``, or a `ConfigError` blaming that option."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{option} {path}: {exc.strerror or exc}") from None
    if not data:
        raise ConfigError(f"{option} {path}: empty file")
    return hashlib.sha256(data).hexdigest()[:16]


def fingerprint_data(combos: Sequence[Combination], registry: Registry | None = None) -> None:
    """Fill ``combo.data`` of every runnable combination: the fingerprint of its train and eval splits
    (and of the checkpoint it starts from, ``train.init_from``).

    Each distinct task is built once, here, before anything runs (the splits are cached on disk, so
    the workers load them instead of generating them side by side); an edited data file or a changed
    generator therefore gives a new key. A task whose data cannot be built stops the command here.
    With ``eval.extrapolate`` the test splits of its tasks are fingerprinted too; a model that cannot
    run at a test split's length (`length_problem`) gets a ``skip_reason`` instead of a fingerprint.
    """
    registry = registry or get_registry()
    done: dict[str, tuple[dict[str, str], TaskInfo, set[int]]] = {}
    for combo in combos:
        if combo.skip_reason:
            continue
        splits = ("train", combo.eval["split"])
        init_from = combo.train.get("init_from")
        extrapolate = combo.eval.get("extrapolate") or {}
        key = config_hash(combo.task, splits, init_from, extrapolate or None)
        if key not in done:
            try:
                task = instantiate(registry, "task", combo.task)
                variants = variant_tasks(registry, combo.task, extrapolate)
                prints = data_fingerprint(task, splits, init_from, variants)
                tested = [task, *variants.values()]
                lengths = {int(t.build(combo.eval["split"]).inputs.shape[1]) for t in tested}  # cached by now
            except ConfigError:
                raise  # it names its own culprit (train.init_from, a task's file and line)
            except (OSError, ValueError, KeyError, LookupError) as exc:
                raise ConfigError(f"task '{combo.task['label']}': cannot build its data: {_first_line(exc)}") from exc
            done[key] = prints, task.info, lengths
        prints, info, lengths = done[key]
        problem = length_problem(registry, combo.model, info, lengths)
        if problem:
            combo.skip_reason = problem
        else:
            combo.data = prints


def length_problem(registry: Registry, model: Mapping[str, Any], info: TaskInfo, lengths: set[int]) -> str | None:
    """Why the model cannot run on test sequences of these ``lengths`` (a task tested at other sizes
    than its training one), asked through its optional ``length_problem`` (built on the ``meta``
    device: no weights); None when it can, or cannot tell."""
    other = sorted(n for n in lengths if n != info.seq_len)
    if not other:
        return None
    import torch

    try:
        with torch.device("meta"):
            net = registry.get("model", model["plugin"]).factory(plugin_dataclass(registry, "model", model), info)
    except (ValueError, TypeError, AssertionError, RuntimeError):
        return None  # the worker will say it
    ask = getattr(net, "length_problem", None)
    for n in other:
        problem = ask(n) if ask is not None else None
        if problem:
            return f"model '{model['label']}' cannot run the test split at {n} tokens: {problem}"
    return None
