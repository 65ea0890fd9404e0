"""`looped_hrm.resolve`: the one place a (task, model, halting, train, eval, seed, device) is resolved."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from looped_hrm.config import ConfigError
from looped_hrm.contracts import ModelSpec, TaskSpec
from looped_hrm.registry import Origin, Registry
from looped_hrm.resolve import resolve_combination, resolve_plugin


def test_a_combination_is_complete_and_buildable():
    combo = resolve_combination("parity", "baseline", "fixed", preset="tiny", train={"steps": 3})
    assert combo.model["plugin"] == "transformer" and combo.model["preset"] == "tiny"
    assert combo.train["steps"] == 3 and combo.train["batch_size"] == 32  # defaults filled in
    assert combo.skip_reason is None
    built = combo.build()
    assert built.train.steps == 3 and built.policy.name == "fixed"
    assert built.model().compute_profile().trainable_params > 0


def test_same_inputs_same_key_any_change_new_key():
    a = resolve_combination("parity", "hrm", preset="tiny", train={"steps": 3})
    assert a.key == resolve_combination("parity", "hrm", preset="tiny", train={"steps": 3}).key
    assert a.key != resolve_combination("parity", "hrm", preset="tiny", train={"steps": 4}).key
    assert a.key != resolve_combination("parity", "hrm", preset="tiny", train={"steps": 3}, seed=1).key
    assert (
        a.key
        != resolve_combination("parity", "hrm", preset="tiny", train={"steps": 3}, model_config={"H_cycles": 3}).key
    )


def test_time_budget_replaces_steps():
    combo = resolve_combination("parity", "hrm", preset="tiny", train={"steps": 3}, time_budget=5)
    assert combo.train["time_budget_s"] == 5 and combo.train["steps"] is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train": {}}, "set a training budget"),
        ({"train": {"steps": 3}, "preset": "tiyn"}, "no preset 'tiyn'; did you mean 'tiny'?"),
        ({"train": {"steps": 3}, "eval": {"limit": 0}}, "eval.limit: limit must be > 0"),
        ({"train": {"steps": 3}, "device": "tpu"}, "unknown device 'tpu'"),
    ],
)
def test_errors_say_where(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        resolve_combination("parity", "hrm", **kwargs)


def test_without_a_policy_each_model_runs_its_own():
    """The default halting policy is the model's (`ModelSpec.default_halting`): HRM's Q-learning, TRM's
    BCE halting — so an official TRM checkpoint is evaluated with the halt rule TRM was trained for."""
    from looped_hrm.registry import get_registry
    from looped_hrm.runner.grid import BenchmarkConfig, expand

    assert resolve_combination("parity", "hrm", preset="tiny", train={"steps": 3}).halting["plugin"] == "act_q"
    assert resolve_combination("parity", "trm", preset="tiny", train={"steps": 3}).halting["plugin"] == "act_bce"
    bench = BenchmarkConfig(name="g", preset="tiny", tasks=["parity"], models=["hrm", "trm"], train={"steps": 3})
    assert [c.labels for c in expand(bench, get_registry())] == [
        ("parity", "hrm", "act_q"),
        ("parity", "trm", "act_bce"),
    ]
    bench.halting = ["fixed"]  # a named policy applies to every model
    assert [c.labels[2] for c in expand(bench, get_registry())] == ["fixed", "fixed"]


def test_a_task_without_the_grids_preset_says_it_runs_on_its_defaults(capsys):
    @dataclass
    class Cfg:
        size: int = 9

    registry = Registry()
    registry.add(
        TaskSpec(name="toy", factory=Cfg, config=Cfg, description="", presets={"tiny": {"size": 3}}),
        Origin("toy", "toy-pkg", "1.0"),
    )
    registry.add(  # a model with a preset of its own (as TRM's paper_att)
        ModelSpec(name="net", factory=Cfg, config=Cfg, description="", presets={"small_for_this_test": {}}),
        Origin("net", "toy-pkg", "1.0"),
    )
    resolve_plugin(registry, "task", "toy", default_preset="tyop", source="--preset")
    assert capsys.readouterr().err == ""  # a preset no model has: the model's error names it, no warning first
    for _ in range(2):  # a grid resolves the entry once per seed: one warning
        resolved = resolve_plugin(registry, "task", "toy", default_preset="small_for_this_test", source="--preset")
    assert resolved["preset"] is None and resolved["config"] == {"size": 9}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: --preset")
    assert "task 'toy' has no preset 'small_for_this_test' (presets: tiny): it runs with its defaults" in err
