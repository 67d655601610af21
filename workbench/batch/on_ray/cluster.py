"""Reaching Ray: the import (with the fix named when it is missing), a local cluster started loopback-only, or a
running cluster at an address — refused with a clear message when nothing answers there."""
from __future__ import annotations

import os
import time
from pathlib import Path

from ...errors import ConfigError

INSTALL_HINT = 'pip install -e ".[ray]" in the workbench folder (the [ray] extra), or pip install "ray[data]>=2.60"'
CONNECT_TIMEOUT_S = 5.0  # for the TCP check of an address


def import_ray():
    """`ray`, imported at first use (it takes seconds), or a ConfigError naming the install command."""
    try:
        import ray
        import ray.data  # noqa: F401 — Ray Core alone lacks Ray Data
    except ImportError as e:
        raise ConfigError(f"engine='ray' needs Ray Data, which is not installed here ({e}) — {INSTALL_HINT}") \
            from None
    return ray


def connect(address: str | None) -> tuple[object, bool, float]:
    """(ray, whether this call started Ray and must shut it down, seconds it took). No address: the Ray already
    initialised in this process, else a new local one on 127.0.0.1 only. An address (`auto`, `ray://host:10001`,
    `host:6379`): that cluster, or a ConfigError naming the address."""
    started = time.perf_counter()
    ray = import_ray()
    if ray.is_initialized():
        return ray, False, time.perf_counter() - started
    # A local cluster listens on the machine's network address unless told otherwise; a batch needs loopback only.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_agent_register_timeout_ms", "120000")  # a busy machine starts its agent slowly
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
              "runtime_env": _runtime_env()}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            _start_local(ray, kwargs)
    except Exception as e:  # noqa: BLE001 — Ray raises ConnectionError, RuntimeError, TimeoutError…
        where = f"the Ray cluster at {address!r}" if address else "a local Ray"
        fix = ("start it (`ray start --head`) or check the address (`ray://HOST:10001` for a remote head)"
               if address else "see the Ray log above; `ray stop` clears a stale local cluster")
        raise ConfigError(f"could not reach {where}: {type(e).__name__}: {e} — {fix}; nothing was sent") from None
    return ray, True, time.perf_counter() - started


def _start_local(ray, kwargs: dict, tries: int = 2) -> None:
    """A new local Ray on 127.0.0.1. Ray gives its node 30 s to register, which a busy machine can miss: tried
    again once."""
    for attempt in range(1, tries + 1):
        try:
            ray.init(address="local", _node_ip_address="127.0.0.1", **kwargs)
            return
        except Exception as e:  # noqa: BLE001
            if "timed out during startup" not in str(e) or attempt == tries:
                raise
            ray.shutdown()


def _runtime_env() -> dict:
    """The workers import this very workbench, shipped with the job (a cluster's nodes need only its dependencies:
    pip install "vlm-workbench[ray]" there, or the same requirements)."""
    return {"py_modules": [str(Path(__file__).resolve().parents[2])]}


def check_answers(address: str) -> None:
    """A quick TCP check first: Ray itself waits minutes on an address where nothing listens."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r} is not an address — use auto, HOST:6379 or ray://HOST:10001")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ConfigError(f"no Ray cluster answers at {address!r} ({e}) — start one there (`ray start --head`) "
                             "or check the address; nothing was sent") from None
