"""A batch on a Ray cluster: `run_batch(..., engine="ray")`, `workbench batch --engine ray [--ray-address …]`.

The driver plans exactly as a single-machine run does (items, fingerprint, resume, the store's answers served
without a call) and hands only the rest to Ray Data; see `driver` for what an interruption can cost. Workers run
the lane's own Sender (`worker`); one limit per server holds cluster-wide (`limits`). `vllm` builds a
`ray.data.llm` processor for GPU fleets. Nothing here imports ray until a Ray run starts (`cluster`).
"""
from __future__ import annotations

from ...errors import ConfigError
from .cluster import INSTALL_HINT, check_answers, connect, import_ray
from .driver import BLOCKS_PER_ACTOR, DEFAULT_ACTORS, ITEMS_PER_BLOCK, through_ray

ENGINES = ("local", "ray")

__all__ = ["BLOCKS_PER_ACTOR", "DEFAULT_ACTORS", "ENGINES", "INSTALL_HINT", "ITEMS_PER_BLOCK", "check_engine",
           "connect", "import_ray", "through_ray"]


def check_engine(engine: str, address: str | None, via: str) -> None:
    """ConfigError (or WorkbenchError for an address where nothing answers) before the run exists."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r} — use one of: {', '.join(ENGINES)}")
    if engine != "ray":
        if address:
            raise ConfigError("ray_address (--ray-address) is for engine='ray' (--engine ray)")
        return
    if via != "chat":
        raise ConfigError("a Batch API run is one provider batch: it does not go through Ray — drop "
                          "engine='ray' (--engine ray) or via='batch_api' (--batch-api)")
    import_ray()  # not installed: a ConfigError naming the install command
    if address and address != "auto":
        check_answers(address)
