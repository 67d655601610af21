"""A scripted OpenAI-compatible server on loopback, for fault-injection and batch tests.

The behaviour of each call is chosen by the request's `model` name, so one server serves a whole test:

    ok / stream-ok   a normal chat completion (SSE when the request asks for `stream`)
    cost             ok, with OpenRouter-style `usage.cost` = 0.00042
    429 / 500 / 503  that status (429 with `retry-after: 0`; every retryable status also sends `retry-after-ms`
                     so the SDK retries at once instead of backing off for half a second)
    401 / 403        key rejected; the error message echoes the Authorization header, as careless proxies do
    404 / 400        model not found / a plain bad request
    schema-400       400 "response_format json_schema is not supported" when the request has response_format
    slow             waits `slow_s` seconds (longer than the tests' deadlines), then answers ok
    html             200 text/html, as a web page at the wrong base_url would
    bad-json         200 application/json whose body is not JSON
    truncated        Content-Length larger than the body, then the connection closes
    no-choices       `choices: []`;   no-message: a choice without `message`
    drop             closes the connection without any response
    stream-cut       SSE: two content chunks, then the connection closes mid-stream
    stream-bad-chunk SSE: two content chunks, then a chunk that is not JSON
    ignore-stream    a plain JSON completion even when the request asks for `stream`
    null-content     a choice whose message has `content: null` (and no refusal)
    reasoning        ok, after a `<think>…</think>` block; `usage.completion_tokens_details.reasoning_tokens`
                     counts the thinking inside `completion_tokens`, as OpenAI, DeepSeek and vLLM report it
    reasoning-field  the thinking in `message.reasoning_content` (DeepSeek, vLLM) and `message.reasoning`
                     (OpenRouter) instead of the content; streamed as `delta.reasoning_content` when asked
    reasoning-length only thinking (`content: null`), cut by the token limit: finish_reason `length`
    logprobs         a 1-token answer with `top_logprobs` for common answer labels (Yes/No, A–E, 0–5, words)
    reasoning-apart  like reasoning-field, but `completion_tokens` leaves the reasoning out (`total_tokens` has it)
    X-then-ok        behaviour X on the first call, ok afterwards (e.g. 429-then-ok, 500-then-ok)
    whoami-…         ok, answering `model=<the model id> key=<key_digest(the bearer key)>` (streamed when asked):
                     proves which session's model and key a request came from, without echoing the key

Unknown model names answer ok. `script[model] = ["500", "500", "ok"]` overrides the name (by call index;
the last entry repeats). `latency_s` delays every chat answer (the batch benchmark uses 0.05 s).

Answers per image and per model, so a test knows the right answer: register the images with
`images[name] = path`, then `answers[(model, name)] = text` sets what an ok call answers for that image, and
`label_probs[(model, name)] = {"A": 0.7, "B": 0.3}` the first token's `top_logprobs` when the request asks for
logprobs (score mode). A request's image is recognised as the registered image nearest to it in an 8×8 thumbnail,
so resizing and JPEG re-encoding on the way do not matter.

`FaultServer(fault_once=("429", "html", ...), fault_share=0.2)`: whatever the model name says, a share of the
distinct requests (chosen by a hash of the body, so the same ones on every run) is answered the first time with
one of those faults, and normally ever after. `server.paid` counts successful answers per distinct request:
`server.duplicates` is the number of requests answered successfully more than once (paid for twice).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import socket
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

COST = 0.00042
PROMPT_TOKENS = 17
BEHAVIOURS = {"ok", "stream-ok", "cost", "429", "500", "502", "503", "401", "403", "404", "400", "schema-400",
              "slow", "html", "bad-json", "truncated", "no-choices", "no-message", "drop", "stream-cut",
              "stream-bad-chunk", "ignore-stream", "null-content", "reasoning", "reasoning-field",
              "reasoning-length", "reasoning-apart", "logprobs", "whoami"}
PAID = {"ok", "stream-ok", "cost", "slow", "ignore-stream", "reasoning", "reasoning-field", "reasoning-length",
        "reasoning-apart", "logprobs", "whoami"}
TOP_TOKENS = ["Yes", "No", "A", "B", "C", "D", "E", "0", "1", "2", "3", "4", "5", "minor", "moderate", "severe",
              "no_pothole", "true", "false"]
REASONING_TOKENS = 40
THINKING = "The photo shows asphalt. There is a dark hole near the centre, so the answer is about a pothole."
HTML_PAGE = b"<!DOCTYPE html><html><head><title>Welcome</title></head><body><h1>It works!</h1></body></html>"


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connections when a batch opens many at once
    daemon_threads = True


class FaultServer:
    """Start with `with FaultServer() as server:`; `server.url` is the API root ending in /v1."""

    def __init__(self, *, latency_s: float = 0.0, slow_s: float = 5.0, retry_after_ms: int = 10,
                 reply_text: str = "A grey road with one dark pothole.", fault_once: tuple[str, ...] = (),
                 fault_share: float = 1.0) -> None:
        self.latency_s = latency_s
        self.fault_once, self.fault_share = tuple(fault_once), fault_share
        self.seen: set[str] = set()  # distinct requests (by body hash) seen so far, in fault_once mode
        self.faulted: Counter[str] = Counter()  # fault_once mode: faults sent, by behaviour
        self.paid: Counter[str] = Counter()  # successful answers per distinct request
        self.slow_s = slow_s
        self.retry_after_ms = retry_after_ms
        self.reply_text = reply_text
        self.script: dict[str, list[str]] = {}
        self.served: set[str] = set()  # model ids GET /v1/models lists beside the behaviours (e.g. whoami-user-01)
        self.images: dict[str, object] = {}  # name -> image path, for answers per image
        self.answers: dict[tuple[str, str], str] = {}  # (model, image name) -> reply text
        self.label_probs: dict[tuple[str, str], dict[str, float]] = {}  # (model, image name) -> token -> p
        self.seen_images: Counter[tuple[str, str]] = Counter()  # (model, image name) -> calls
        self._thumbs: dict[str, object] = {}
        self.calls: Counter[str] = Counter()
        self.in_flight = self.most_in_flight = 0  # chat requests being answered now / at most at once
        self.requests: deque[dict] = deque(maxlen=256)  # recent request bodies, oldest first
        self.last_request: dict | None = None
        self.last_headers: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> "FaultServer":
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fault-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()  # wakes handlers that are sleeping in "slow" or latency
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise wait for their timeout
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def calls_for(self, model: str) -> int:
        with self._lock:
            return self.calls[model]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.paid.clear()
            self.requests.clear()
            self.script.clear()
            self.served.clear()
            self.answers.clear()
            self.label_probs.clear()
            self.seen_images.clear()
            self.last_request = None
            self.last_headers = {}

    @property
    def duplicates(self) -> int:
        """Distinct requests answered successfully more than once: calls paid for twice."""
        with self._lock:
            return sum(1 for n in self.paid.values() if n > 1)

    # --- used by the handler -----------------------------------------------------------------------------

    def _once(self, digest: str) -> str | None:
        """fault_once mode: the fault for a request seen for the first time (a share of them), else None."""
        with self._lock:
            if not self.fault_once or digest in self.seen:
                return None
            self.seen.add(digest)
            pick = int(digest[:12], 16)
            if (pick % 10_000) / 10_000 >= self.fault_share:
                return None
            fault = self.fault_once[(pick // 10_000) % len(self.fault_once)]
            self.faulted[fault] += 1
            return fault

    def _paid(self, digest: str, behaviour: str) -> None:
        if behaviour in PAID:
            with self._lock:
                self.paid[digest] += 1

    def _record(self, body: dict, headers: dict[str, str]) -> tuple[str, int]:
        model = str(body.get("model", ""))
        with self._lock:
            n = self.calls[model]
            self.calls[model] += 1
            self.last_request = body
            self.last_headers = headers
            self.requests.append(body)
        return model, n

    def _behaviour(self, model: str, n: int) -> str:
        steps = self.script.get(model)
        if steps:
            return steps[min(n, len(steps) - 1)]
        if model.startswith("whoami-"):
            return "whoami"
        if model.endswith("-then-ok"):
            return model[: -len("-then-ok")] if n == 0 else "ok"
        return model if model in BEHAVIOURS else "ok"

    def image_name(self, body: dict) -> str | None:
        """The registered image nearest to the request's first image (None when none is registered or sent)."""
        if not self.images:
            return None
        url = next((part["image_url"]["url"] for message in body.get("messages", [])
                    if isinstance(message.get("content"), list)
                    for part in message["content"] if part.get("type") == "image_url"), None)
        if not url:
            return None
        sent = _thumb(base64.b64decode(url.split(",", 1)[1]))
        with self._lock:
            for name, path in self.images.items():
                if name not in self._thumbs:
                    with open(path, "rb") as f:
                        self._thumbs[name] = _thumb(f.read())
            thumbs = dict(self._thumbs)
        return min(thumbs, key=lambda name: sum((a - b) ** 2 for a, b in zip(thumbs[name], sent)))

    def _reply_for(self, body: dict) -> tuple[str, dict[str, float] | None]:
        name = self.image_name(body)
        model = str(body.get("model", ""))
        if name is None:
            return self.reply_text, None
        with self._lock:
            self.seen_images[(model, name)] += 1
        return self.answers.get((model, name), self.reply_text), self.label_probs.get((model, name))

    def _wait(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True when it is."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


def _make_handler(server: FaultServer):
    class Handler(_Handler):
        fault = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # with Nagle, keep-alive answers stall ~40 ms
    timeout = 10  # an idle keep-alive connection ends after this; keeps each handler's loop bounded
    fault: FaultServer

    def setup(self) -> None:
        super().setup()
        with self.fault._lock:
            self.fault._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fault._lock:
                self.fault._connections.discard(self.connection)

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass

    # --- routes ------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path.rstrip("/") == "/v1/models":
            ids = sorted(set(BEHAVIOURS) | self.fault.served)
            data = [{"id": name, "object": "model", "owned_by": "fault-server"} for name in ids]
            self._json(200, {"object": "list", "data": data})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}})
            return
        model, n = self.fault._record(body, {k.lower(): v for k, v in self.headers.items()})
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        behaviour = self.fault._once(digest) or self.fault._behaviour(model, n)
        with self.fault._lock:
            self.fault.in_flight += 1
            self.fault.most_in_flight = max(self.fault.most_in_flight, self.fault.in_flight)
        try:
            if self.fault._wait(self.fault.latency_s):
                return self._drop()
            getattr(self, "_" + behaviour.replace("-", "_"))(body)
            self.fault._paid(digest, behaviour)
        finally:
            with self.fault._lock:
                self.fault.in_flight -= 1

    # --- behaviours --------------------------------------------------------------------------------------

    def _ok(self, body: dict, extra_usage: dict | None = None) -> None:
        text, probs = self.fault._reply_for(body)
        if body.get("stream"):
            return self._stream(body, cut=False, extra_usage=extra_usage, text=text)
        data = _completion(body, text, extra_usage)
        if body.get("logprobs") and probs:  # score mode: the first answer token's alternatives
            top = [{"token": token, "logprob": math.log(p), "bytes": None} for token, p in probs.items() if p > 0]
            data["choices"][0]["logprobs"] = {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"],
                                                           "bytes": None, "top_logprobs": top}]}
        self._json(200, data)

    _stream_ok = _ok

    def _whoami(self, body: dict) -> None:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        text = f"model={body.get('model')} key={key_digest(key)}"
        self.fault._reply_for(body)  # counts the image in seen_images; the reply is the identity above
        if body.get("stream"):
            return self._stream(body, cut=False, text=text)
        self._json(200, _completion(body, text))

    def _ignore_stream(self, body: dict) -> None:
        self._json(200, _completion(body, self.fault.reply_text))

    def _cost(self, body: dict) -> None:
        self._ok(body, {"cost": COST})

    def _slow(self, body: dict) -> None:
        if self.fault._wait(self.fault.slow_s):
            return self._drop()
        self._ok(body)

    def _429(self, body: dict) -> None:
        self._error(429, "Rate limit reached for requests", "rate_limit_exceeded", {"retry-after": "0"})

    def _500(self, body: dict) -> None:
        self._error(500, "The server had an error while processing your request", "server_error")

    def _502(self, body: dict) -> None:
        self._error(502, "Bad gateway", "server_error")

    def _503(self, body: dict) -> None:
        self._error(503, "The engine is currently overloaded", "server_error")

    def _401(self, body: dict) -> None:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        self._json(401, {"error": {"message": f"Incorrect API key provided: {key}.", "type": "invalid_request_error",
                                   "code": "invalid_api_key"}})

    def _403(self, body: dict) -> None:
        self._json(403, {"error": {"message": "This key may not use this model.", "type": "permission_denied"}})

    def _404(self, body: dict) -> None:
        self._json(404, {"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                   "type": "invalid_request_error", "code": "model_not_found"}})

    def _400(self, body: dict) -> None:
        self._json(400, {"error": {"message": "Invalid image: the data URL could not be decoded.",
                                   "type": "invalid_request_error"}})

    def _schema_400(self, body: dict) -> None:
        if "response_format" in body:
            self._json(400, {"error": {"message": "response_format json_schema is not supported by this model",
                                       "type": "invalid_request_error", "param": "response_format"}})
        else:
            self._ok(body)

    def _html(self, body: dict) -> None:
        self._send(200, HTML_PAGE, "text/html; charset=utf-8")

    def _bad_json(self, body: dict) -> None:
        self._send(200, b'{"id": "x", "choices": [{"message": ', "application/json")

    def _truncated(self, body: dict) -> None:
        payload = json.dumps(_completion(body, self.fault.reply_text)).encode()
        half = payload[: len(payload) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(half)
        self._drop()

    def _no_choices(self, body: dict) -> None:
        data = _completion(body, "")
        data["choices"] = []
        self._json(200, data)

    def _no_message(self, body: dict) -> None:
        data = _completion(body, "")
        data["choices"] = [{"index": 0, "finish_reason": "stop"}]
        self._json(200, data)

    def _null_content(self, body: dict) -> None:
        data = _completion(body, "")
        data["choices"][0]["message"]["content"] = None
        self._json(200, data)

    def _reasoning(self, body: dict) -> None:
        text = f"<think>\n{THINKING}\n</think>\n\n{self.fault.reply_text}"
        self._json(200, _completion(body, self.fault.reply_text, reasoning_tokens=REASONING_TOKENS, text=text))

    def _reasoning_field(self, body: dict) -> None:
        if body.get("stream"):
            return self._stream(body, cut=False, thinking=THINKING, reasoning_tokens=REASONING_TOKENS)
        data = _completion(body, self.fault.reply_text, reasoning_tokens=REASONING_TOKENS)
        data["choices"][0]["message"].update(reasoning_content=THINKING, reasoning=THINKING)
        self._json(200, data)

    def _logprobs(self, body: dict) -> None:
        data = _completion(body, TOP_TOKENS[0])
        top = [{"token": token, "logprob": -0.5 - i, "bytes": None} for i, token in enumerate(TOP_TOKENS)]
        data["choices"][0]["logprobs"] = {"content": [{"token": TOP_TOKENS[0], "logprob": -0.5, "bytes": None,
                                                       "top_logprobs": top}]}
        self._json(200, data)

    def _reasoning_apart(self, body: dict) -> None:
        data = _completion(body, self.fault.reply_text, reasoning_tokens=REASONING_TOKENS)
        data["usage"]["completion_tokens"] -= REASONING_TOKENS
        data["choices"][0]["message"].update(reasoning_content=THINKING)
        self._json(200, data)

    def _reasoning_length(self, body: dict) -> None:
        data = _completion(body, "", reasoning_tokens=body.get("max_tokens") or REASONING_TOKENS)
        data["choices"][0].update(finish_reason="length")
        data["choices"][0]["message"].update(content=None, reasoning_content=THINKING)
        self._json(200, data)

    def _drop(self, body: dict | None = None) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _stream_cut(self, body: dict) -> None:
        self._stream(body, cut=True)

    def _stream_bad_chunk(self, body: dict) -> None:
        self._stream(body, cut=False, bad_chunk=True)

    # --- wire helpers ------------------------------------------------------------------------------------

    def _stream(self, body: dict, *, cut: bool, bad_chunk: bool = False, extra_usage: dict | None = None,
                text: str | None = None, thinking: str = "", reasoning_tokens: int = 0) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        words = (self.fault.reply_text if text is None else text).split(" ")
        pieces = [w + " " for w in words[:-1]] + words[-1:]
        if cut or bad_chunk:
            pieces = pieces[:2]
        self._chunk(_sse(_chunk(body, {"role": "assistant", "content": ""})))
        for thought in thinking.split(" ") if thinking else []:  # DeepSeek / vLLM stream it beside the content
            self._chunk(_sse(_chunk(body, {"reasoning_content": thought + " "})))
        for piece in pieces:
            self._chunk(_sse(_chunk(body, {"content": piece})))
        if cut:
            return self._drop()
        if bad_chunk:
            self._chunk(b'data: {"choices": [{"delta": {"content": \n\n')
            self._chunk(b"data: [DONE]\n\n")
            return self._chunk(b"")
        self._chunk(_sse(_chunk(body, {}, finish_reason="stop")))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage_chunk = _chunk(body, None)
            usage_chunk["usage"] = _usage(len(pieces), extra_usage, reasoning_tokens)
            self._chunk(_sse(usage_chunk))
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _error(self, status: int, message: str, code: str, headers: dict | None = None) -> None:
        headers = {**(headers or {}), "retry-after-ms": str(self.fault.retry_after_ms)}
        self._json(status, {"error": {"message": message, "type": code, "code": code}}, headers)

    def _json(self, status: int, data: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _send(self, status: int, payload: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


def key_digest(key: str) -> str:
    """A short digest of an API key: names whose key a request carried without writing the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _thumb(data: bytes) -> list[int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return list(im.convert("RGB").resize((8, 8)).tobytes())


def _usage(completion_tokens: int, extra: dict | None = None, reasoning_tokens: int = 0) -> dict:
    usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion_tokens + reasoning_tokens,
             "total_tokens": PROMPT_TOKENS + completion_tokens + reasoning_tokens, **(extra or {})}
    if reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return usage


def _completion(body: dict, answer: str, extra_usage: dict | None = None, reasoning_tokens: int = 0,
                text: str | None = None) -> dict:
    """A chat completion whose visible answer is `answer` (`text`: the content, when it holds more)."""
    content = answer if text is None else text
    return {"id": "chatcmpl-fault", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": _usage(len(answer.split()), extra_usage, reasoning_tokens)}


def _chunk(body: dict, delta: dict | None, finish_reason: str | None = None) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    return {"id": "chatcmpl-fault", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model", ""), "choices": choices}


def _sse(data: dict) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


@pytest.fixture
def fault_server():
    with FaultServer() as server:
        yield server
