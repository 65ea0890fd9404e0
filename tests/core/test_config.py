"""Config errors name the file, the line and the key path, and say what was expected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest
import yaml

from looped_hrm.config import ConfigError, apply_overrides, build, config_hash, load_yaml, parse_override, plugin_config
from looped_hrm.contracts import ModelSpec


@dataclass
class Hrm:
    H_cycles: int = 2
    L_cycles: int = 2
    lr: float = 1e-4
    pos: Literal["rope", "learned"] = "rope"
    dropout: float | None = None
    layers: list[int] = field(default_factory=lambda: [4, 4])


@dataclass
class Models:
    hrm: Hrm = field(default_factory=Hrm)


@dataclass
class Bench:
    name: str
    seeds: list[int] = field(default_factory=lambda: [0])
    model: Models = field(default_factory=Models)


def write(tmp_path, text: str):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    return path


def test_valid_file_builds_nested_dataclasses(tmp_path):
    data, source = load_yaml(write(tmp_path, "name: ci\nseeds: [0, 1]\nmodel:\n  hrm:\n    H_cycles: 3\n    lr: 1\n"))
    bench = build(Bench, data, source)
    assert bench.model.hrm.H_cycles == 3 and bench.model.hrm.lr == 1.0 and isinstance(bench.model.hrm.lr, float)
    assert bench.seeds == [0, 1] and bench.model.hrm.layers == [4, 4]


def test_unknown_key_names_file_line_path_and_suggestion(tmp_path):
    path = write(tmp_path, "name: ci\nmodel:\n  hrm:\n    H_cyles: 3\n")
    with pytest.raises(ConfigError) as info:
        build(Bench, *load_yaml(path))
    assert str(info.value) == f"{path}:4: model.hrm.H_cyles: unknown key (did you mean 'H_cycles'?)"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: ci\nseeds: 3\n", "x.yaml:2: seeds: expected a list, got int 3"),
        ("name: ci\nmodel:\n  hrm:\n    lr: fast\n", "x.yaml:4: model.hrm.lr: expected a number, got str 'fast'"),
        (
            "name: ci\nmodel:\n  hrm:\n    H_cycles: 2.5\n",
            "x.yaml:4: model.hrm.H_cycles: expected an integer, got float 2.5",
        ),
        (
            "name: ci\nmodel:\n  hrm:\n    H_cycles: true\n",
            "x.yaml:4: model.hrm.H_cycles: expected an integer, got bool True",
        ),
        (
            "name: ci\nmodel:\n  hrm:\n    pos: rop\n",
            "x.yaml:4: model.hrm.pos: expected one of rope, learned, got 'rop' (did you mean 'rope'?)",
        ),
        (
            "name: ci\nmodel:\n  hrm:\n    layers: [4, x]\n",
            "x.yaml:4: model.hrm.layers.1: expected an integer, got str 'x'",
        ),
        ("seeds: [1]\n", "x.yaml:1: <top level>: missing required key(s): name"),
        ("name: ci\nmodel: [1]\n", "x.yaml:2: model: expected a mapping for Models, got list"),
    ],
)
def test_wrong_types_say_what_was_expected(tmp_path, text, expected):
    with pytest.raises(ConfigError) as info:
        build(Bench, *load_yaml(write(tmp_path, text)))
    assert str(info.value).endswith(expected)


def test_bad_yaml_reports_line_and_column(tmp_path):
    path = write(tmp_path, "name: ci\nmodel:\n  hrm: {H_cycles: 2\n  other: 1\n")
    with pytest.raises(ConfigError, match=r"x\.yaml:\d+:\d+: invalid YAML"):
        load_yaml(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(tmp_path / "nope.yaml")


def test_overrides_parse_values_as_yaml_and_nest():
    data = apply_overrides(
        {"model": {"hrm": {"H_cycles": 2}}}, ["model.hrm.H_cycles=4", "model.hrm.pos=learned", "seeds=[1, 2]", "name=x"]
    )
    bench = build(Bench, data, "--set")
    assert (bench.model.hrm.H_cycles, bench.model.hrm.pos, bench.seeds, bench.name) == (4, "learned", [1, 2], "x")
    assert parse_override("a.b=0.5") == (("a", "b"), 0.5)


@pytest.mark.parametrize("text", ["1e13", "1.0e+13", "1E13", "10_000_000_000_000.0"])
def test_exponent_floats_without_a_dot_are_numbers(tmp_path, text):
    """PyYAML's YAML 1.1 reads ``1e13`` as a string; a FLOPs budget must not need ``1.0e+13``."""
    assert parse_override(f"train.flops_budget={text}") == (("train", "flops_budget"), 1e13)
    (tmp_path / "b.yaml").write_text(f"train:\n  flops_budget: {text}\n  lr: 3e-3\n")
    data, _ = load_yaml(tmp_path / "b.yaml")
    assert data == {"train": {"flops_budget": 1e13, "lr": 0.003}}
    assert parse_override("name=e13") == (("name",), "e13")  # only numbers change
    assert yaml.safe_load("1e13") == "1e13"  # the stock loader is left as it was


@pytest.mark.parametrize("bad", ["novalue", "=3", "a..b=1"])
def test_malformed_override_is_rejected(bad):
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        parse_override(bad)


def test_override_into_a_scalar_is_rejected():
    with pytest.raises(ConfigError, match="is a int, not a mapping"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_plugin_config_layers_defaults_preset_and_values():
    spec = ModelSpec(
        name="hrm", factory=print, config=Hrm, description="", presets={"tiny": {"H_cycles": 1, "L_cycles": 1}}
    )
    cfg = plugin_config(spec, "tiny", {"L_cycles": 3})
    assert (cfg.H_cycles, cfg.L_cycles, cfg.lr) == (1, 3, 1e-4)
    with pytest.raises(ConfigError, match="has no preset 'huge' \\(presets: tiny\\)"):
        plugin_config(spec, "huge")
    with pytest.raises(ConfigError, match="model.hrm.H_cylces: unknown key"):
        plugin_config(spec, None, {"H_cylces": 1}, "b.yaml", ("model", "hrm"))


def test_config_hash_is_stable_and_sensitive():
    assert config_hash(Hrm()) == config_hash(Hrm())
    assert config_hash(Hrm()) != config_hash(Hrm(H_cycles=3))
    assert config_hash({"b": 1, "a": 2}) == config_hash({"a": 2, "b": 1})
