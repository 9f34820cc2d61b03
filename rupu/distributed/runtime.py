"""Reaching Ray: the optional import (one line and exit 2 without the extra) and connecting to a
cluster, with a wrong address or a refused connection reported before any request."""

# lazy imports: Ray takes a second or more to import; only this executor loads it
from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

from rupu.errors import ConfigError

INSTALL_LINE = "pip install 'rupu[ray]'"
CONNECT_TIMEOUT = 3.0


def import_ray() -> ModuleType:
    """The `ray` module, or a `ConfigError` (exit 2) saying how to install it."""
    try:
        import ray  # lazy: optional extra, slow to import
    except ImportError:
        raise ConfigError(
            "the ray executor needs Ray, which is not installed",
            hint=f"install it with `{INSTALL_LINE}`, or run with `--executor local`",
        ) from None
    return ray


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    """What `ray.init` gets: "auto" (a cluster started on this machine with `ray start`), a GCS
    address "host:port", or a Ray Client address "ray://host:port"."""

    raw: str

    @property
    def host_port(self) -> tuple[str, int] | None:
        if self.raw == "auto":
            return None
        rest = self.raw.removeprefix("ray://")
        host, sep, port = rest.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(
                f"executor address {self.raw!r} is not host:port",
                field="executor.address",
                hint='use "auto", "host:6379" or "ray://host:10001"',
            )
        return host.strip("[]"), int(port)


def cluster_address(configured: str | None, env: Mapping[str, str]) -> ClusterAddress:
    """The address flag or `[executor] address` first, then RAY_ADDRESS, then "auto"."""
    return ClusterAddress((configured or env.get("RAY_ADDRESS") or "auto").strip())


def check_reachable(address: ClusterAddress) -> None:
    """Fails with one line when nothing listens at the address (ray.init would retry for a minute)."""
    target = address.host_port
    if target is None:
        return
    try:
        with socket.create_connection(target, timeout=CONNECT_TIMEOUT):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot reach the Ray cluster at {address.raw}: {reason}",
            field="executor.address",
            hint="start one with `ray start --head`, or fix [executor] address or RAY_ADDRESS",
        ) from None


def connect(address: ClusterAddress) -> ModuleType:
    """Connects this process to the cluster (once; a second call reuses the connection)."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    check_reachable(address)
    try:
        ray.init(
            address=address.raw,
            logging_level="ERROR",
            log_to_driver=False,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot connect to the Ray cluster at {address.raw}: {first}",
            field="executor.address",
            hint="start one with `ray start --head`, or fix [executor] address or RAY_ADDRESS",
        ) from None
    return ray
