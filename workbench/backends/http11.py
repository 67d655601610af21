"""A minimal HTTP/1.1 keep-alive client for JSON POSTs to plain-http servers, on asyncio streams.

The batch's fast path to local OpenAI-compatible servers (vLLM, Ollama, LM Studio, `transformers serve`): at
50 ms per answer a 64-wide batch needs ~1,300 calls/s, and the SDK with httpx spends ~1.7 ms of CPU per call
(pool bookkeeping, request models, anyio layers) where this spends ~0.1 ms. It does only what those servers
need: Content-Length or chunked bodies, keep-alive, `Connection: close`. No TLS, proxies, redirects,
compression or retries: callers use the SDK for anything else (see openai_compat._lean_eligible).

Failures raise `HTTPConnectionError` with the same wording httpx uses for the same event, so callers can map
both clients' failures with one rule.
"""
from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024
_MAX_IDLE = 256


class HTTPConnectionError(Exception):
    """The connection failed, or closed before a complete response arrived."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class ConnectionPool:
    """Keep-alive connections to one `http://host:port`; a connection serves one request at a time."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http":
            raise ValueError(f"http11 speaks plain http only, not {parts.scheme!r}")
        self.host, self.port = parts.hostname or "localhost", parts.port or 80
        self.path = parts.path.rstrip("/")
        self.netloc = parts.netloc.rsplit("@", 1)[-1]
        self._idle: collections.deque = collections.deque()

    def head(self, path: str, headers: dict[str, str], length: int) -> bytes:
        """The request head for a POST of `length` bytes to `path` (under the base URL's path)."""
        lines = [f"POST {self.path}{path} HTTP/1.1", f"Host: {self.netloc}", f"Content-Length: {length}",
                 *(f"{k}: {v}" for k, v in headers.items()), "", ""]
        return "\r\n".join(lines).encode("latin-1")

    async def post(self, head: bytes, body: bytes) -> Response:
        reader, writer = await self._connection()
        try:
            writer.write(head + body)  # one send: the copy costs less than a second system call
            response, keep = await _read_response(reader)
        except BaseException:  # cancelled (a deadline) or failed: this connection's state is unknown
            writer.close()
            raise
        if keep and len(self._idle) < _MAX_IDLE:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return response

    async def _connection(self):
        while self._idle:
            reader, writer = self._idle.pop()  # the most recently used: least likely to have timed out
            if not (reader.at_eof() or writer.is_closing()):  # the server closed it while it sat idle
                return reader, writer
            writer.close()
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=_MAX_HEAD)
        except OSError as e:
            raise HTTPConnectionError(str(e) or type(e).__name__) from e
        return reader, writer

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    try:
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as e:
                if not e.partial:
                    raise HTTPConnectionError("Server disconnected without sending a response.") from None
                raise HTTPConnectionError("Server disconnected in the middle of the response headers.") from None
            except asyncio.LimitOverrunError:
                raise HTTPConnectionError("the response headers are too long") from None
            status, headers, version = _parse_head(raw)
            if not 100 <= status < 200:  # 1xx (100 Continue, 103 Early Hints): the answer follows
                break
        body = await _read_body(reader, status, headers)
    except ConnectionError as e:  # reset, broken pipe
        raise HTTPConnectionError(str(e) or type(e).__name__) from e
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection and (version != "HTTP/1.0" or "keep-alive" in connection)
    keep = keep and ("content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower())
    return Response(status, headers, body), keep


def _parse_head(raw: bytes) -> tuple[int, dict[str, str], str]:
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    try:
        status = int(rest[:3])
    except ValueError:
        raise HTTPConnectionError(f"not an HTTP response: {lines[0][:80]!r}") from None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers, version


async def _read_body(reader: asyncio.StreamReader, status: int, headers: dict[str, str]) -> bytes:
    if status in (204, 304):
        return b""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    if "content-length" in headers:
        try:
            expected = int(headers["content-length"])
        except ValueError:
            raise HTTPConnectionError(f"bad Content-Length {headers['content-length']!r}") from None
        try:
            return await reader.readexactly(expected)
        except asyncio.IncompleteReadError as e:
            raise HTTPConnectionError(f"peer closed connection without sending complete message body: received "
                                      f"{len(e.partial)} bytes, expected {expected}") from None
    return await reader.read()  # neither: the body ends when the server closes the connection


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    try:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HTTPConnectionError(f"bad chunk size {size_line[:40]!r}") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the blank line
                    pass
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
    except asyncio.IncompleteReadError:
        raise HTTPConnectionError("peer closed connection without sending complete message body: incomplete "
                                  "chunked read") from None
