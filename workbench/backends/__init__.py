"""Backend registry. Built-in backends register exactly like add-ons: one module, one `@register_backend`."""
from __future__ import annotations

import importlib

from .base import (BACKENDS, UNRUNNABLE, Availability, Backend, Capabilities, ChatRequest, Reply, ScoreReply,
                   ScoreUnavailable, get_backend, register_backend)

# Backend name → the module that registers it. Importing one is cheap: heavy libraries load at first use.
BUILTIN = {"openai": "openai_compat", "transformers": "transformers_local", "mlx": "mlx_local"}


def load_builtin_backends(name: str | None = None) -> None:
    for module in [BUILTIN[name]] if name in BUILTIN else BUILTIN.values():
        importlib.import_module(f"{__name__}.{module}")


__all__ = ["BACKENDS", "UNRUNNABLE", "Availability", "Backend", "Capabilities", "ChatRequest", "Reply", "ScoreReply",
           "ScoreUnavailable", "get_backend", "register_backend", "load_builtin_backends"]
