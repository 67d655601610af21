"""The backend registry. Built-in backends register exactly like add-ons: one module, one `@register_backend`."""
from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import Backend

# Backend name → the module that registers it. Importing one is cheap: heavy libraries load at first use.
BUILTIN = {"openai": "openai_compat", "transformers": "transformers_local", "mlx": "mlx_local"}

BACKENDS: dict[str, type[Backend]] = {}
_INSTANCES: dict[str, Backend] = {}


def register_backend(name: str):
    """Class decorator: `@register_backend("openai")` makes the backend selectable in the models file."""

    def wrap(cls):
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise TypeError(f"{cls!r} must subclass workbench.backends.Backend")
        cls.name = name
        BACKENDS[name] = cls
        return cls

    return wrap


def load_builtin_backends(name: str | None = None) -> None:
    for module in [BUILTIN[name]] if name in BUILTIN else BUILTIN.values():
        importlib.import_module(f"{__package__}.{module}")  # by name: the built-ins import this module


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        load_builtin_backends(name)
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r} — use one of: {', '.join(sorted(BACKENDS))}")
    if name not in _INSTANCES:
        _INSTANCES[name] = BACKENDS[name]()
    return _INSTANCES[name]
