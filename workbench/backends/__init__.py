"""Backends: the contract (`base`), the registry, and the built-in backends (loaded by name at first use)."""
from __future__ import annotations

from .base import (UNRUNNABLE, Availability, Backend, Capabilities, ChatRequest, Reply, ScoreReply,
                   ScoreUnavailable)
from .registry import BACKENDS, BUILTIN, get_backend, load_builtin_backends, register_backend

__all__ = ["BACKENDS", "BUILTIN", "UNRUNNABLE", "Availability", "Backend", "Capabilities", "ChatRequest", "Reply",
           "ScoreReply", "ScoreUnavailable", "get_backend", "load_builtin_backends", "register_backend"]
