"""A Ray address that cannot be reached fails within a stated bound, in one line, before anything
starts (issue 21, case 6): an unresolvable ``RAY_ADDRESS`` kept ``ray.init`` waiting for over five
minutes, an unreachable IP printed warnings for 20 s and more."""

from __future__ import annotations

import time

import pytest

import looped_hrm.runner.ray_address as ray_address
from looped_hrm.config import ConfigError
from looped_hrm.runner.ray_address import check_ray_address

from .conftest import refused


def refuses(address: str | None, timeout: float = 3.0) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        check_ray_address(address, timeout=timeout)
    return str(caught.value), time.monotonic() - started


def test_an_unresolvable_name_is_refused_within_the_bound():
    err, took = refuses("nosuchhost.invalid:6379")
    assert err.startswith("--ray-address nosuchhost.invalid:6379: cannot resolve 'nosuchhost.invalid'")
    assert took < 3.0 + 1.0


def test_a_port_nobody_listens_on_is_refused():
    err, took = refuses("127.0.0.1:1")
    assert err.startswith("--ray-address 127.0.0.1:1: cannot reach 127.0.0.1:1 within 3 s (")
    assert err.endswith("is the Ray cluster up?") and took < 4.0


def test_an_ip_that_never_answers_is_refused_within_the_bound():
    """192.0.2.1 is TEST-NET-1 (RFC 5737): routed nowhere, it never answers (or the network says so at once)."""
    err, took = refuses("192.0.2.1:6379", timeout=2.0)
    assert err.startswith("--ray-address 192.0.2.1:6379: cannot reach 192.0.2.1:6379 within 2 s")
    assert took < 2.0 + 1.0


def test_the_environment_variable_is_named_as_the_culprit(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "nosuchhost.invalid:6379")
    assert refuses(None)[0].startswith("RAY_ADDRESS=nosuchhost.invalid:6379: cannot resolve")


@pytest.mark.parametrize("address", ["justahost", "host:port", "host:0", "ray://"])
def test_an_address_without_a_port_is_refused(address):
    assert "expected HOST:PORT" in refuses(address)[0]


@pytest.mark.parametrize("address", [None, "auto", "local", ""])
def test_a_local_ray_is_not_checked(monkeypatch, address):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    check_ray_address(address, timeout=0.001)


def test_the_grid_stops_before_it_starts(capsys, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="--executor ray needs the ray extra")
    monkeypatch.setattr(ray_address, "CONNECT_TIMEOUT_S", 3.0)
    monkeypatch.setenv("RAY_ADDRESS", "nosuchhost.invalid:6379")
    out = tmp_path / "out"
    started = time.monotonic()
    err = refused(capsys, "run", "--tasks", "parity", "--models", "hrm", "--executor", "ray", "--out", str(out))
    assert err.startswith("error: RAY_ADDRESS=nosuchhost.invalid:6379: cannot resolve")
    assert time.monotonic() - started < 30 and not out.exists()
