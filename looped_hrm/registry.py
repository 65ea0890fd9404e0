"""The plugin registry: finds every plugin, validates what it contributes, looks specs up by name.

Discovery, in order:

1. every entry point in the group ``looped_hrm`` (the built-ins are declared there too, in this
   project's ``pyproject.toml``), loaded **one at a time** so that a broken third-party package is
   reported and skipped instead of taking the host down (pluggy's own
   ``load_setuptools_entrypoints`` raises on the first failure);
2. modules named in ``LOOPED_HRM_PLUGINS=mod1,mod2`` (local experiments without packaging).

``LOOPED_HRM_LOAD_PLUGINS=pkg-a,pkg-b`` limits third-party packages to those distributions (empty:
none) — the escape hatch when an installed plugin misbehaves. ``LOOPED_HRM_STRICT_PLUGINS=1`` turns
load failures into exceptions, for plugin authors.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.metadata
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, get_args

import pluggy

from looped_hrm import hookspecs
from looped_hrm.contracts import HaltingSpec, ModelSpec, PluginSpec, TaskSpec
from looped_hrm.nn.losses import LossName

ENTRY_POINT_GROUP = "looped_hrm"
HOST_DISTRIBUTION = "looped-hrm"
KINDS = ("task", "model", "halting")
_HOOK_OF_KIND = {"task": "looped_hrm_tasks", "model": "looped_hrm_models", "halting": "looped_hrm_halting_policies"}
_SPEC_OF_KIND: dict[str, type[PluginSpec]] = {"task": TaskSpec, "model": ModelSpec, "halting": HaltingSpec}
_PLURAL = {"task": "tasks", "model": "models", "halting": "halting policies"}


class PluginError(Exception):
    """Base class for registry errors a user can act on."""


class UnknownPluginError(PluginError, LookupError):
    """A name that no plugin provides."""


class DuplicatePluginError(PluginError):
    """Two plugins claim the same name."""


class PluginLoadError(PluginError):
    """A plugin failed to load (raised only in strict mode)."""


@dataclass(frozen=True)
class Origin:
    """Where a plugin came from: the pluggy plugin name, its distribution and version."""

    plugin: str
    package: str
    version: str


@dataclass(frozen=True)
class Entry:
    """One registered spec and its origin."""

    spec: PluginSpec
    origin: Origin

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass(frozen=True)
class Failure:
    """A plugin that could not be used, and why (one line)."""

    plugin: str
    package: str
    error: str

    def line(self) -> str:
        return f"looped_hrm: warning: plugin '{self.plugin}' from package '{self.package}' skipped: {self.error}"


@dataclass
class Registry:
    """All specs by kind and name, plus the failures met while loading."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    aliases: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KINDS})
    duplicates: dict[tuple[str, str], list[Origin]] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    command_hooks: list[tuple[Origin, Callable[..., object]]] = field(default_factory=list)
    """Plugins' ``looped_hrm_register_commands`` implementations, called by `looped_hrm.commands`."""

    # ----------------------------------------------------------------------------- lookups

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[_check_kind(kind)])

    def resolve(self, kind: str, name: str) -> str:
        """The canonical name for ``name`` or one of its aliases; raises with a suggestion otherwise."""
        kind = _check_kind(kind)
        key = self.aliases[kind].get(name, name)
        if (kind, key) in self.duplicates:
            who = " and ".join(f"'{o.package}' (plugin '{o.plugin}')" for o in self.duplicates[(kind, key)])
            raise DuplicatePluginError(f"{kind} '{key}' is registered by both {who}; uninstall one of them")
        if key in self.entries[kind]:
            return key
        known = self.names(kind) + sorted(self.aliases[kind])
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listing = ", ".join(self._label(kind, n) for n in self.names(kind)) or "none installed"
        raise UnknownPluginError(f"unknown {kind} '{name}'{hint} (known {_PLURAL[kind]}: {listing})")

    def get(self, kind: str, name: str) -> PluginSpec:
        """The spec of the ``kind`` plugin called ``name`` (aliases allowed)."""
        return self.entries[kind][self.resolve(kind, name)].spec

    def default_halting(self, model: str) -> str:
        """The halting policy ``model`` runs under when none is named (`ModelSpec.default_halting`)."""
        spec = self.get("model", model)
        assert isinstance(spec, ModelSpec)  # every registered model spec is (_validate_spec)
        return spec.default_halting

    def default_loss(self, model: str) -> str:
        """The training loss ``model`` runs with when ``train.loss`` is not set (`ModelSpec.default_loss`)."""
        spec = self.get("model", model)
        assert isinstance(spec, ModelSpec)
        return spec.default_loss

    def entry(self, kind: str, name: str) -> Entry:
        return self.entries[kind][self.resolve(kind, name)]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per plugin spec and per failure, for ``python -m looped_hrm plugins``."""
        rows = [
            {
                "kind": kind,
                "name": name,
                "aliases": list(e.spec.aliases),
                "package": e.origin.package,
                "version": e.origin.version,
                "plugin": e.origin.plugin,
                "presets": list(e.spec.presets),
                "description": e.spec.description,
            }
            for kind in KINDS
            for name, e in sorted(self.entries[kind].items())
        ]
        rows += [
            {
                "kind": "error",
                "name": f.plugin,
                "aliases": [],
                "package": f.package,
                "version": "",
                "plugin": f.plugin,
                "presets": [],
                "description": f.error,
            }
            for f in self.failures
        ]
        return rows

    def _label(self, kind: str, name: str) -> str:
        aliases = sorted(a for a, n in self.aliases[kind].items() if n == name)
        return f"{name} ({', '.join(aliases)})" if aliases else name

    # ------------------------------------------------------------------------- registration

    def add(self, spec: PluginSpec, origin: Origin) -> None:
        """Register one spec; a name or alias clash with another package is recorded, not fatal."""
        kind = spec.kind
        for name in (spec.name, *spec.aliases):
            other = self.entries[kind].get(self.aliases[kind].get(name, name))
            if other is not None:
                clash = [other.origin, origin]
                self.duplicates[(kind, other.spec.name)] = clash
                self.failures.append(
                    Failure(
                        origin.plugin,
                        origin.package,
                        f"{kind} name '{name}' is already registered by package '{other.origin.package}' "
                        f"(plugin '{other.origin.plugin}')",
                    )
                )
                return
        self.entries[kind][spec.name] = Entry(spec, origin)
        for alias in spec.aliases:
            self.aliases[kind][alias] = spec.name


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind '{kind}' (expected one of {', '.join(KINDS)})")
    return kind


def _validate_spec(spec: Any, kind: str) -> PluginSpec:
    cls = _SPEC_OF_KIND[kind]
    if not isinstance(spec, cls):
        raise TypeError(f"{_HOOK_OF_KIND[kind]}() returned {type(spec).__name__}, expected {cls.__name__}")
    if not spec.name.isidentifier():
        raise ValueError(f"{kind} name '{spec.name}' must be a Python identifier (letters, digits, _)")
    if not (isinstance(spec.config, type) and dataclasses.is_dataclass(spec.config)):
        raise TypeError(f"{kind} '{spec.name}': config must be a dataclass type, got {spec.config!r}")
    if not callable(spec.factory):
        raise TypeError(f"{kind} '{spec.name}': factory is not callable")
    if isinstance(spec, ModelSpec) and spec.default_loss not in get_args(LossName):
        raise ValueError(
            f"model '{spec.name}': default_loss {spec.default_loss!r} is not a loss ({', '.join(get_args(LossName))})"
        )
    fields = {f.name for f in dataclasses.fields(spec.config)}
    for preset, values in spec.presets.items():
        unknown = set(values) - fields
        if unknown:
            raise ValueError(f"{kind} '{spec.name}': preset '{preset}' sets unknown field(s) {sorted(unknown)}")
    return spec


def _registers_nothing(obj: Any) -> str:
    """Why a plugin object contributes nothing, naming the hook functions that lack ``@hookimpl``."""
    unmarked = sorted(
        name for name in dir(obj) if name.startswith(f"{hookspecs.PROJECT}_") and callable(getattr(obj, name))
    )
    if unmarked:
        verb = "is" if len(unmarked) == 1 else "are"
        return (
            f"implements no hook: {', '.join(unmarked)} {verb} not marked @hookimpl (from looped_hrm import hookimpl)"
        )
    return "implements no hook (no function marked @hookimpl; the hooks are in looped_hrm/hookspecs.py)"


def _short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def _env_list(name: str) -> list[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def _iter_entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    seen = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        if (dist, ep.name) in seen:  # a distribution visible twice on sys.path
            continue
        seen.add((dist, ep.name))
        yield ep


def build_registry(
    extra_modules: Iterable[str] | None = None, *, entry_points: bool = True, strict: bool | None = None
) -> Registry:
    """Load every plugin and collect its specs.

    ``extra_modules`` adds plugin modules by import path (default: ``LOOPED_HRM_PLUGINS``).
    Failures are recorded in ``Registry.failures``; with ``strict`` (default:
    ``LOOPED_HRM_STRICT_PLUGINS``) the first one raises `PluginLoadError` instead.
    """
    if strict is None:
        strict = os.environ.get("LOOPED_HRM_STRICT_PLUGINS", "") not in ("", "0")
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    origins: dict[str, Origin] = {}

    def fail(plugin: str, package: str, exc: BaseException | str) -> None:
        error = exc if isinstance(exc, str) else _short_error(exc)
        if strict:
            raise PluginLoadError(f"plugin '{plugin}' from package '{package}': {error}") from (
                exc if isinstance(exc, BaseException) else None
            )
        registry.failures.append(Failure(plugin, package, error))

    def register(obj: Any, name: str, origin: Origin) -> None:
        if pm.is_registered(obj):  # the same module reached twice (entry point and LOOPED_HRM_PLUGINS)
            return
        try:
            pm.register(obj, name=name)
        except Exception as exc:  # noqa: BLE001 - any plugin bug is isolated
            fail(name, origin.package, exc)
            return
        try:
            pm.check_pending()  # a misspelt hook name fails this plugin, not the host
        except Exception as exc:  # noqa: BLE001
            pm.unregister(obj)
            fail(name, origin.package, exc)
            return
        if not pm.get_hookcallers(obj):  # announced, yet it adds nothing: say so instead of dropping it
            pm.unregister(obj)
            fail(name, origin.package, _registers_nothing(obj))
            return
        origins[name] = origin

    allowed = _env_list("LOOPED_HRM_LOAD_PLUGINS")
    if entry_points:
        for ep in _iter_entry_points():
            package = ep.dist.name if ep.dist is not None else "?"
            version = ep.dist.version if ep.dist is not None else "?"
            builtin = package == HOST_DISTRIBUTION
            if not builtin and allowed is not None and package not in allowed:
                continue
            name = ep.name if builtin else f"{package}:{ep.name}"
            try:
                obj = ep.load()
            except BaseException as exc:  # noqa: BLE001 - SystemExit/ImportError in plugin code too
                if isinstance(exc, KeyboardInterrupt):
                    raise
                fail(name, package, exc)
                continue
            register(obj, name, Origin(name, package, version))

    for module in extra_modules if extra_modules is not None else _env_list("LOOPED_HRM_PLUGINS") or []:
        try:
            obj = importlib.import_module(module)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            fail(module, f"{module} (LOOPED_HRM_PLUGINS)", exc)
            continue
        register(obj, module, Origin(module, f"{module} (LOOPED_HRM_PLUGINS)", "local"))

    for kind in KINDS:
        hook = getattr(pm.hook, _HOOK_OF_KIND[kind])
        for impl in hook.get_hookimpls():  # registration order (pluggy *calls* them in reverse)
            origin = origins[impl.plugin_name]
            try:
                specs = [_validate_spec(spec, kind) for spec in (impl.function() or [])]
            except Exception as exc:  # noqa: BLE001
                fail(impl.plugin_name, origin.package, exc)
                continue
            for spec in specs:
                registry.add(spec, origin)
    for impl in pm.hook.looped_hrm_register_commands.get_hookimpls():
        registry.command_hooks.append((origins[impl.plugin_name], impl.function))
    if strict and registry.failures:
        raise PluginLoadError(registry.failures[0].line())
    return registry


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use; load failures are printed once to stderr."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
        for failure in _REGISTRY.failures:
            print(failure.line(), file=sys.stderr)
    return _REGISTRY
