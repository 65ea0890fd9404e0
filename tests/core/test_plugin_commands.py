"""Plugins add commands to ``looped-hrm`` through ``looped_hrm_register_commands``; a broken one
costs a warning, never the host's own commands."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from looped_hrm import commands, registry

HELLO = """
from looped_hrm import hookimpl
from looped_hrm.config import ConfigError


def hello(args):
    if args.name == "nobody":
        raise ConfigError("--name nobody: say who")
    print(f"hello {args.name}")
    return 0


@hookimpl
def looped_hrm_register_commands(subparsers):
    p = subparsers.add_parser("hello", help="say hello")
    p.add_argument("--name", default="world")
    p.set_defaults(func=hello)
"""

BROKEN = """
from looped_hrm import hookimpl


@hookimpl
def looped_hrm_register_commands(subparsers):
    raise RuntimeError("boom while adding commands")
"""

CLAIMS_RUN = """
from looped_hrm import hookimpl


@hookimpl
def looped_hrm_register_commands(subparsers):
    subparsers.add_parser("run").set_defaults(func=lambda args: 7)
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write plugin modules and load them the documented way: ``LOOPED_HRM_PLUGINS=mod1,mod2``."""

    def load(**modules: str) -> None:
        for name, source in modules.items():
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setenv("LOOPED_HRM_PLUGINS", ",".join(modules))
        monkeypatch.setattr(registry, "_REGISTRY", None)  # rebuilt on first use, from the variable

    return load


def test_a_plugin_module_adds_a_working_command(plugins, capsys):
    plugins(cmd_hello=HELLO)
    assert commands.main(["hello", "--name", "ada"]) == 0
    assert capsys.readouterr().out == "hello ada\n"
    assert commands.main(["hello", "--name", "nobody"]) == 2  # the host's guards: one error line
    assert capsys.readouterr().err == "error: --name nobody: say who\n"
    with pytest.raises(SystemExit):
        commands.main(["--help"])
    assert "hello" in capsys.readouterr().out


def test_a_broken_command_plugin_only_warns(plugins, capsys):
    plugins(cmd_broken=BROKEN, cmd_hello=HELLO, cmd_claims_run=CLAIMS_RUN)
    assert commands.main(["hello"]) == 0  # the other plugin's command still works
    out, err = capsys.readouterr()
    assert out == "hello world\n"
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "plugin 'cmd_broken'" in warnings[0] and "RuntimeError: boom while adding commands" in warnings[0]
    assert "plugin 'cmd_claims_run'" in warnings[1] and "run" in warnings[1]  # a built-in name is refused
    assert commands.main(["run", "--tasks", "list"]) == 0  # and the built-in `run` is still the host's


def test_a_plugin_module_that_fails_to_import_only_warns(plugins, capsys):
    plugins(cmd_missing="import a_module_that_does_not_exist\n", cmd_hello=HELLO)
    assert commands.main(["hello"]) == 0
    err = capsys.readouterr().err
    assert "plugin 'cmd_missing'" in err and "a_module_that_does_not_exist" in err and "warning" in err
