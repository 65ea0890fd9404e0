"""Configuration: YAML files and ``--set a.b=c`` overrides validated into dataclasses.

Every error names where it comes from — the file, the line when known, the dotted key path — and
what was expected, e.g.::

    benchmarks/x.yaml:12: models.hrm.H_cyles: unknown key (did you mean 'H_cycles'?)

Plugins describe their configuration as a dataclass; `plugin_config` builds one from the
dataclass defaults, then a preset, then the user's values, so a typo in any layer is caught
before anything runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

T = TypeVar("T")

MAX_INT = 2**53
"""Largest integer a config may hold: exactly representable as a float (JSON, YAML, torch sizes)."""


class ConfigError(ValueError):
    """Invalid configuration; the message says where and what was expected."""


class Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads exponent floats without a dot (``1e13``, ``3e-3``) as numbers.

    PyYAML follows YAML 1.1, where such a value is the *string* ``"1e13"``; YAML 1.2, JSON and
    Python all read it as a float, and so would anyone writing ``train.flops_budget=1e13``.
    """


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_text(text: str) -> Any:
    """One YAML document, parsed with `Loader`."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a SafeLoader


@dataclasses.dataclass(frozen=True)
class Source:
    """Where values come from: a file (with the line of each key path) or a label like ``--set``."""

    name: str
    lines: Mapping[tuple[str, ...], int] = dataclasses.field(default_factory=dict)
    overrides: Mapping[tuple[str, ...], str] = dataclasses.field(default_factory=dict)  # path -> "--set a.b=c"

    def at(self, path: tuple[str, ...]) -> str:
        """``file:line: a.b.c`` for error messages (the line of the closest known ancestor);
        a value that came from ``--set`` is blamed on that option instead."""
        for cut in range(len(path), 0, -1):
            if path[:cut] in self.overrides:
                return f"{self.overrides[path[:cut]]}: {'.'.join(path)}"
        below = sorted({v for k, v in self.overrides.items() if path and k[: len(path)] == path})
        if below:  # a section some of whose keys were set on the command line
            return f"{', '.join(below)}: {'.'.join(path)}"
        line = None
        for cut in range(len(path), -1, -1):
            line = self.lines.get(path[:cut])
            if line is not None:
                break
        prefix = f"{self.name}:{line}" if line is not None else self.name
        return f"{prefix}: {'.'.join(path) or '<top level>'}"


def load_yaml(path: str | Path) -> tuple[Any, Source]:
    """Parse a YAML file with `Loader` (safe, exponent floats), recording the line of every key."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        node = yaml.compose(text, Loader=Loader)
        data = load_text(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from exc
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _collect_lines(node, (), lines, str(path))
    return data, Source(str(path), lines)


def _collect_lines(node: yaml.Node, path: tuple[str, ...], lines: dict[tuple[str, ...], int], name: str) -> None:
    """Record the line of every key path; a key given twice in one mapping is an error (YAML would
    silently keep the last one)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            child = path + (str(key.value),)
            line = key.start_mark.line + 1
            if str(key.value) in seen:
                raise ConfigError(
                    f"{name}:{line}: {'.'.join(child)}: duplicate key (first given on line "
                    f"{seen[str(key.value)]}; YAML would silently keep only the last one)"
                )
            seen[str(key.value)] = line
            lines[child] = line
            _collect_lines(value, child, lines, name)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _collect_lines(value, path + (str(i),), lines, name)


# ----------------------------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"a.b=3"`` -> (("a", "b"), 3); the value is read as YAML (numbers, booleans, lists)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE, e.g. train.steps=200")
    try:
        value = load_text(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML: {exc}") from exc
    return tuple(key.split(".")), value


def apply_overrides(data: Mapping[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A deep copy of ``data`` with every ``a.b=c`` override set (creating mappings as needed)."""
    result = json.loads(json.dumps(data)) if data else {}
    for text in overrides:
        path, value = parse_override(text)
        node = result
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"--set {text!r}: {'.'.join(path[: i + 1])} is a {type(child).__name__}, not a mapping"
                )
            node = child
        node[path[-1]] = value
    return result


# ------------------------------------------------------------------------------- validation


def build(cls: type[T], data: Any, source: Source | str = "<config>", path: tuple[str, ...] = ()) -> T:
    """Validate ``data`` (a mapping) into the dataclass ``cls``; unknown keys and wrong types raise."""
    if isinstance(source, str):
        source = Source(source)
    return _convert(cls, data, source, path)


def convert_fields(
    cls: type, data: Mapping[str, Any], source: Source | str = "<config>", path: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check the keys and value types of ``data`` against the dataclass ``cls`` without building it:
    one layer of a config that is merged with others before the whole is validated."""
    if isinstance(source, str):
        source = Source(source)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source.at(path)}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, item in data.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(fields)})"
            raise ConfigError(f"{source.at(path + (str(key),))}: unknown key{hint}")
        kwargs[key] = _convert(hints[key], item, source, path + (key,))
    return kwargs


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, source: Source, path: tuple[str, ...]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source.at(path)}: expected a mapping for {tp.__name__}, got {type(value).__name__}")
        fields = {f.name: f for f in dataclasses.fields(tp) if f.init}
        kwargs = convert_fields(tp, value, source, path)
        missing = [
            n
            for n, f in fields.items()
            if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ConfigError(f"{source.at(path)}: missing required key(s): {', '.join(missing)}")
        try:
            return tp(**kwargs)
        except (TypeError, ValueError) as exc:
            # "steps must be > 0": blame the key the message starts with, so the line is that key's
            first = str(exc).split(" ", 1)[0]
            raise ConfigError(f"{source.at(path + (first,) if first in fields else path)}: {exc}") from exc
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, source, path)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:  # Optional[X]: X's own message says more ("out of range", "finite")
            raise errors[0]
        expected = " or ".join(_type_name(a) for a in args)
        raise ConfigError(f"{source.at(path)}: expected {expected}, got {value!r}")
    if origin is typing.Literal:
        if value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ConfigError(f"{source.at(path)}: expected one of {', '.join(map(str, args))}, got {value!r}{hint}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source.at(path)}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and args and (len(args) != 2 or args[1] is not Ellipsis):
            if len(args) != len(value):
                raise ConfigError(f"{source.at(path)}: expected {len(args)} items, got {len(value)}")
            return tuple(_convert(a, v, source, path + (str(i),)) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [_convert(item, v, source, path + (str(i),)) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{source.at(path)}: expected a mapping, got {type(value).__name__} {value!r}")
        key_t, val_t = args if args else (Any, Any)
        return {
            _convert(key_t, k, source, path + (str(k),)): _convert(val_t, v, source, path + (str(k),))
            for k, v in value.items()
        }
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source.at(path)}: expected a number, got {type(value).__name__} {value!r}")
        if isinstance(value, int) and abs(value) > MAX_INT or not math.isfinite(value):
            raise ConfigError(f"{source.at(path)}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source.at(path)}: expected an integer, got {type(value).__name__} {value!r}")
        if abs(value) > MAX_INT:
            raise ConfigError(f"{source.at(path)}: {value} is out of range (at most {MAX_INT:,} in magnitude)")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise ConfigError(f"{source.at(path)}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{source.at(path)}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
    return value


# ------------------------------------------------------------------------------ plugin configs


def plugin_config(
    spec: Any,
    preset: str | None = None,
    values: Mapping[str, Any] | None = None,
    source: Source | str = "<config>",
    path: tuple[str, ...] = (),
) -> Any:
    """A plugin's config: dataclass defaults, then ``spec.presets[preset]``, then ``values``.

    A preset the plugin does not define is an error naming the presets it has.
    """
    merged: dict[str, Any] = {}
    if preset is not None:
        if preset not in spec.presets:
            raise ConfigError(
                f"{spec.kind} '{spec.name}' has no preset '{preset}' (presets: {', '.join(spec.presets) or 'none'})"
            )
        merged.update(spec.presets[preset])
    merged.update(values or {})
    return build(spec.config, merged, source, path)


def to_dict(config: Any) -> Any:
    """A dataclass (or nested containers of them) as plain JSON-able data."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    return config


def config_hash(*parts: Any, length: int = 16) -> str:
    """A stable hex digest of configs (dataclasses or plain data), for cache keys and run ids."""
    blob = json.dumps([to_dict(p) for p in parts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]
