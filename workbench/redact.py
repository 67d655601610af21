"""Keep API keys out of every message, raw text and export."""
from __future__ import annotations

import re

# Shapes of common provider keys, for keys we were not told about (e.g. echoed back by a proxy).
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|sk-or-v1-[A-Za-z0-9]{8,}|hf_[A-Za-z0-9]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,})")


def redact(text: str | None, secrets=()) -> str | None:
    if not text:
        return text
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _KEY_SHAPES.sub("[redacted]", text)
