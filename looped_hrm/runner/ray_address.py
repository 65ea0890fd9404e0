"""Is the Ray cluster a grid is sent to reachable at all? Asked before anything starts, within a bound.

Given an address it cannot reach, ``ray.init`` waits on its own retries: a name that does not
resolve or an IP that does not answer kept it for minutes, printing warnings (issue 21). The grid
runner therefore resolves and connects to the address itself first — the GCS ``HOST:PORT`` or a
Ray Client ``ray://HOST:PORT`` — and refuses in one line when that fails within
`CONNECT_TIMEOUT_S`. An address that answers but is not a Ray cluster is left to Ray.
"""

from __future__ import annotations

import os
import socket
import threading
import time

from looped_hrm.config import ConfigError

CONNECT_TIMEOUT_S = 30.0
"""Name resolution and the TCP connection together, in seconds."""
CLIENT_PORT = 10001  # Ray Client's default port (ray://HOST)
LOCAL = ("", "local", "auto")  # no remote address: a local Ray is started or found by Ray itself


def check_ray_address(address: str | None, timeout: float | None = None) -> None:
    """`ConfigError` (one line naming the address and where it came from) unless ``address`` — or
    ``RAY_ADDRESS`` when it is None — resolves and accepts a TCP connection within ``timeout`` s."""
    origin = "--ray-address"
    if address is None:
        address, origin = os.environ.get("RAY_ADDRESS"), "RAY_ADDRESS="
    if address is None or address.strip() in LOCAL:
        return
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    where = f"{origin}{address}" if origin.endswith("=") else f"{origin} {address}"
    host, port = _host_port(address.strip(), where)
    deadline = time.monotonic() + timeout
    try:
        infos = _resolve(host, port, timeout)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot resolve {host!r} ({exc.strerror or exc})") from None
    if infos is None:
        raise ConfigError(f"{where}: cannot resolve {host!r} within {timeout:g} s")
    reason = "no address"
    for family, kind, proto, _, sockaddr in infos:
        left = deadline - time.monotonic()
        if left <= 0:
            reason = "timed out"
            break
        try:
            with socket.socket(family, kind, proto) as sock:
                sock.settimeout(left)
                sock.connect(sockaddr)
            return
        except OSError as exc:
            reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
    raise ConfigError(f"{where}: cannot reach {host}:{port} within {timeout:g} s ({reason}); is the Ray cluster up?")


def _host_port(address: str, where: str) -> tuple[str, int]:
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://").split("/")[0]
    host, sep, port = rest.rpartition(":")
    if not sep:
        host, port = rest, str(CLIENT_PORT) if client else ""
    host = host.strip("[]")  # [IPv6]:port
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{where}: expected HOST:PORT (a Ray cluster's GCS address) or ray://HOST[:PORT]")
    return host, int(port)


def _resolve(host: str, port: int, timeout: float) -> list | None:
    """``getaddrinfo`` within ``timeout`` s (it has no timeout of its own: a dead DNS server blocks
    it), in a daemon thread that is abandoned when late; None when late."""
    result: dict[str, object] = {}

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            result["error"] = exc

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result.get("infos")  # type: ignore[return-value]
