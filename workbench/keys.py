"""API keys: the session's own keys first, then the environment (and a .env file). Never logged."""
from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=1)
def _load_dotenv() -> None:
    from dotenv import load_dotenv

    load_dotenv(override=False)  # real environment variables win over .env


def resolve_key(env_name: str | None, keys: dict[str, str] | None = None) -> str | None:
    if not env_name:
        return None
    if keys and keys.get(env_name):
        return keys[env_name].strip()
    _load_dotenv()
    value = os.environ.get(env_name, "").strip()
    return value or None
