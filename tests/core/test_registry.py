"""Plugin discovery: entry points, fake and real third-party distributions, failures isolated."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from looped_hrm.registry import DuplicatePluginError, PluginLoadError, UnknownPluginError, build_registry

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "looped-hrm-example-plugin"

BUILTINS = {
    "task": {"sudoku", "maze", "parity", "arc_lite", "arith_proof"},
    "model": {"hrm", "looped_transformer", "transformer", "trm"},
    "halting": {"fixed", "act_q", "act_bce", "act_ponder", "pondernet", "two_level", "verifier", "oracle"},
}

TASK_MODULE = """
from dataclasses import dataclass
from looped_hrm import hookimpl
from looped_hrm.contracts import TaskSpec

@dataclass
class Cfg:
    size: int = 3

@hookimpl
def looped_hrm_tasks():
    return [TaskSpec(name={name!r}, factory=lambda cfg: cfg, config=Cfg, description="test task",
                     presets={{"tiny": {{"size": 1}}}}, aliases={aliases!r})]
"""


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Create an installed-looking distribution (dist-info + modules) on sys.path, no pip needed."""

    def make(dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        site = tmp_path / dist
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[looped_hrm]\n{lines}\n")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(site))
        for module in modules:
            sys.modules.pop(module, None)

    monkeypatch.delenv("LOOPED_HRM_PLUGINS", raising=False)
    monkeypatch.delenv("LOOPED_HRM_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("LOOPED_HRM_STRICT_PLUGINS", raising=False)
    return make


def test_every_builtin_is_registered_through_its_entry_point():
    registry = build_registry(extra_modules=[])
    assert [f for f in registry.failures if f.package == "looped-hrm"] == []
    for kind, names in BUILTINS.items():
        assert names <= set(registry.names(kind)), kind
    assert registry.entry("model", "hrm").origin.package == "looped-hrm"
    assert registry.resolve("model", "baseline") == "transformer"


def test_third_party_distribution_is_discovered(make_dist):
    make_dist(
        "demo-good", "1.2.3", {"good": "demo_good"}, {"demo_good": TASK_MODULE.format(name="demo", aliases=("dm",))}
    )
    registry = build_registry(extra_modules=[])
    entry = registry.entry("task", "dm")
    assert (entry.spec.name, entry.origin.package, entry.origin.version) == ("demo", "demo-good", "1.2.3")
    row = next(r for r in registry.rows() if r["name"] == "demo")
    assert row["kind"] == "task" and row["presets"] == ["tiny"] and row["aliases"] == ["dm"]


def test_broken_plugin_is_reported_and_isolated(make_dist):
    make_dist("demo-good", "1.0", {"good": "demo_good"}, {"demo_good": TASK_MODULE.format(name="demo", aliases=())})
    make_dist("demo-bad", "0.1", {"bad": "demo_bad"}, {"demo_bad": "import a_module_that_does_not_exist\n"})
    registry = build_registry(extra_modules=[])
    assert "demo" in registry.names("task")
    (failure,) = [f for f in registry.failures if f.package == "demo-bad"]
    assert "a_module_that_does_not_exist" in failure.error
    assert failure.line().count("\n") == 0 and "demo-bad" in failure.line()
    with pytest.raises(PluginLoadError, match="demo-bad"):
        build_registry(extra_modules=[], strict=True)


def test_a_module_reached_twice_is_registered_once(make_dist):
    make_dist("demo-good", "1.0", {"good": "demo_good"}, {"demo_good": TASK_MODULE.format(name="demo", aliases=())})
    registry = build_registry(extra_modules=["demo_good"])
    assert registry.entry("task", "demo").origin.package == "demo-good"
    assert [f for f in registry.failures if "demo" in f.plugin] == []


def test_misspelt_hook_and_bad_spec_fail_only_their_plugin(make_dist):
    make_dist(
        "demo-typo",
        "0.1",
        {"typo": "demo_typo"},
        {
            "demo_typo": """
        from looped_hrm import hookimpl
        @hookimpl
        def looped_hrm_task():  # missing 's'
            return []
    """
        },
    )
    make_dist(
        "demo-badspec",
        "0.1",
        {"badspec": "demo_badspec"},
        {
            "demo_badspec": """
        from looped_hrm import hookimpl
        from looped_hrm.contracts import TaskSpec
        @hookimpl
        def looped_hrm_tasks():
            return [TaskSpec(name="x", factory=print, config=dict, description="config is not a dataclass")]
    """
        },
    )
    make_dist(
        "demo-badloss",
        "0.1",
        {"badloss": "demo_badloss"},
        {
            "demo_badloss": """
        import dataclasses
        from looped_hrm import hookimpl
        from looped_hrm.contracts import ModelSpec
        @dataclasses.dataclass
        class C:
            pass
        @hookimpl
        def looped_hrm_models():
            return [ModelSpec(name="y", factory=print, config=C, description="a loss the engine lacks", default_loss="mse")]
    """
        },
    )
    registry = build_registry(extra_modules=[])
    errors = {f.package: f.error for f in registry.failures}
    assert "looped_hrm_task" in errors["demo-typo"]
    assert "dataclass" in errors["demo-badspec"]
    assert "x" not in registry.names("task")
    assert "default_loss 'mse' is not a loss" in errors["demo-badloss"] and "y" not in registry.names("model")


def test_a_module_that_registers_nothing_is_reported(make_dist):
    forgot = """
        from looped_hrm.contracts import TaskSpec
        def looped_hrm_tasks():  # @hookimpl forgotten
            return []
    """
    make_dist("demo-forgot", "0.1", {"forgot": "demo_forgot"}, {"demo_forgot": forgot})
    make_dist("demo-empty", "0.1", {"empty": "demo_empty"}, {"demo_empty": "X = 1\n"})
    registry = build_registry(extra_modules=[])
    errors = {f.package: f.error for f in registry.failures}
    assert errors["demo-forgot"] == (
        "implements no hook: looped_hrm_tasks is not marked @hookimpl (from looped_hrm import hookimpl)"
    )
    assert errors["demo-empty"].startswith("implements no hook (no function marked @hookimpl")
    with pytest.raises(PluginLoadError, match="implements no hook"):
        build_registry(extra_modules=[], strict=True)


def test_duplicate_names_name_both_packages(make_dist):
    make_dist("demo-one", "1.0", {"one": "demo_one"}, {"demo_one": TASK_MODULE.format(name="same", aliases=())})
    make_dist("demo-two", "1.0", {"two": "demo_two"}, {"demo_two": TASK_MODULE.format(name="same", aliases=())})
    registry = build_registry(extra_modules=[])
    with pytest.raises(DuplicatePluginError) as info:
        registry.get("task", "same")
    assert "demo-one" in str(info.value) and "demo-two" in str(info.value)
    assert any("demo-one" in f.error or "demo-two" in f.error for f in registry.failures)


def test_unknown_name_suggests_the_closest(make_dist):
    make_dist("demo-good", "1.0", {"good": "demo_good"}, {"demo_good": TASK_MODULE.format(name="sudokux", aliases=())})
    registry = build_registry(extra_modules=[])
    with pytest.raises(UnknownPluginError, match=r"did you mean 'sudokux'\?.*known tasks:"):
        registry.get("task", "sudokx")


def test_load_plugins_allow_list_keeps_builtins(make_dist, monkeypatch):
    make_dist("demo-good", "1.0", {"good": "demo_good"}, {"demo_good": TASK_MODULE.format(name="demo", aliases=())})
    monkeypatch.setenv("LOOPED_HRM_LOAD_PLUGINS", "")
    registry = build_registry(extra_modules=[])
    assert "demo" not in registry.names("task")
    assert registry.names("model")  # built-ins are never filtered
    monkeypatch.setenv("LOOPED_HRM_LOAD_PLUGINS", "demo-good")
    assert "demo" in build_registry(extra_modules=[]).names("task")


def _run_cli(*args: str, env_extra: dict[str, str]) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "looped_hrm", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_cli_lists_plugins_as_json_despite_a_broken_local_module(tmp_path):
    (tmp_path / "my_broken_plugin.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "my_local_plugin.py").write_text(TASK_MODULE.format(name="local_task", aliases=()))
    result = _run_cli(
        "plugins",
        "--json",
        env_extra={
            "LOOPED_HRM_PLUGINS": "my_broken_plugin,my_local_plugin",
            "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {"kind": "task", "name": "local_task"}.items() <= next(r for r in rows if r["name"] == "local_task").items()
    warnings = [line for line in result.stderr.splitlines() if "my_broken_plugin" in line]
    assert len(warnings) == 1 and "boom at import" in warnings[0]


@pytest.mark.slow
def test_example_package_installs_and_is_listed(tmp_path):
    """A real pip install of examples/looped-hrm-example-plugin into a private target dir."""
    target, source = tmp_path / "site", tmp_path / "src"
    shutil.copytree(EXAMPLE, source)  # the build leaves build/ and *.egg-info beside the sources
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {"PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    result = _run_cli("plugins", "--json", env_extra=env)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    for name, kind in (("reverse", "task"), ("mixer", "model"), ("confidence", "halting")):
        row = rows[name]
        assert (row["kind"], row["package"], row["version"]) == (kind, "looped-hrm-example-plugin", "0.1.0")
