"""Fast JSON POSTs for batch calls to plain-http OpenAI-compatible servers (vLLM, Ollama, LM Studio, …).

At 50 ms per answer a 64-wide batch needs ~1,300 calls/s; the openai SDK on httpx spends ~1.7 ms of CPU per call,
aiohttp a fraction of that. Only non-streaming batch calls take this path (see openai_compat._lean_pool); the
SDK handles everything else. Failures raise `HTTPConnectionError` worded like httpx's for the same event, so
one rule maps both clients' failures to typed errors.
"""
from __future__ import annotations

from dataclasses import dataclass


class HTTPConnectionError(Exception):
    """The connection failed, or closed before a complete response arrived."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class ConnectionPool:
    """One aiohttp session (keep-alive connections) per server; created inside the running event loop."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = None

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> Response:
        import aiohttp

        if self._session is None:
            # No total timeout here: the caller's deadline (asyncio.timeout) covers the whole call.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                                  timeout=aiohttp.ClientTimeout(total=None),
                                                  cookie_jar=aiohttp.DummyCookieJar(),  # an API sets none
                                                  skip_auto_headers=("Accept-Encoding",))
        try:
            async with self._session.post(self.base_url + path, data=body, headers=headers) as answer:
                return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()},
                                await answer.read())
        except aiohttp.ClientPayloadError as e:
            raise HTTPConnectionError(f"peer closed connection without sending complete message body ({e})") \
                from None
        except aiohttp.ClientError as e:
            raise HTTPConnectionError(str(e) or type(e).__name__) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
