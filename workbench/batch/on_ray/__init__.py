"""A batch on a Ray cluster: `run_batch(..., engine="ray")`, `workbench batch --engine ray [--ray-address …]`.

The driver plans exactly as a single-machine run does (items, fingerprint, resume, the store's answers served
without a call) and hands only the rest to Ray Data; see `driver` for what an interruption can cost. Workers run
the lane's own Sender (`worker`); one limit per server holds cluster-wide (`limits`). `vllm` builds a
`ray.data.llm` processor for GPU fleets. Nothing here imports ray until a Ray run starts (`cluster`).
"""
from __future__ import annotations

from .cluster import INSTALL_HINT, import_ray
from .driver import DEFAULT_ACTORS, ITEMS_PER_BLOCK, through_ray

ENGINES = ("local", "ray")

__all__ = ["DEFAULT_ACTORS", "ENGINES", "INSTALL_HINT", "ITEMS_PER_BLOCK", "import_ray", "through_ray"]
