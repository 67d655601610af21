"""What an OpenAI-compatible server says it serves (GET {base_url}/models), and whether a base_url has the API
version in its path — asked once, when a person adds a model, so a typo'd id is refused before any call."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

LIST_TIMEOUT_S = 2.5  # a person is waiting on the Add button; a server that needs longer is accepted unchecked
_VERSION_SEGMENT = re.compile(r"/v\d+[a-z0-9]*(/|$)", re.I)


@dataclass(frozen=True)
class ServedModels:
    ids: tuple[str, ...] | None  # None: the server did not list its models (see `reason`)
    status: int | None = None  # the HTTP status of the answer; None: no answer
    reason: str = ""  # why there is no list


def with_version(base_url: str) -> str | None:
    """The base_url with /v1 added when its path names no API version (…:8000 for …:8000/v1); None when it does.
    OpenAI-compatible servers answer at {root}/v1/…: below the bare site root there is a web page or a 404."""
    if _VERSION_SEGMENT.search(urlsplit(base_url).path or "/"):
        return None
    return f"{base_url.rstrip('/')}/v1"


def served_models(base_url: str, key: str | None = None, timeout: float = LIST_TIMEOUT_S) -> ServedModels:
    """The model ids the server at `base_url` lists; ids None when it does not answer, or not with a list."""
    import http.client  # not httpx: one short request, no client to set up

    parts = urlsplit(f"{base_url.rstrip('/')}/models")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.netloc, timeout=timeout)
    try:
        conn.request("GET", parts.path or "/", headers={"Authorization": f"Bearer {key}"} if key else {})
        response = conn.getresponse()
        status, body = response.status, response.read()
    except (OSError, http.client.HTTPException) as e:
        return ServedModels(None, None, f"no answer ({type(e).__name__}: {e})")
    finally:
        conn.close()
    if status != 200:
        return ServedModels(None, status, f"it answered {status}")
    try:
        return ServedModels(tuple(str(m["id"]) for m in json.loads(body)["data"]), status)
    except (ValueError, KeyError, TypeError):
        return ServedModels(None, status, "its answer was not a list of models")
