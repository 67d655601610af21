"""Any OpenAI-compatible chat server: OpenAI, OpenRouter, vLLM, Ollama, LM Studio, LocalAI, `transformers serve`.

One user message (the prompt, then one data-URL image per image), one overall deadline per call that covers
the SDK's own retries, and every failure turned into a typed `workbench.errors` exception whose message names
the provider, the key's environment variable and the fix — and never the key itself.

Inside a batch session (`session()`), non-streaming calls to a plain-http server without SDK retries go through
aiohttp (`lean_http`) instead of the SDK: same request body, same typed errors, less CPU
per call, which is what a 64-wide batch against a fast local server is limited by. Everything else uses the SDK.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import ipaddress
import json
import random
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import orjson

from ..errors import (AuthError, BackendError, BadRequestError, ConfigError, ConnectionFailedError, DeadlineError,
                      KeyMissingError, NotFoundError, ProtocolError, RateLimitError, ServerError)
from ..keys import resolve_key
from ..py310 import deadline
from ..wording import key_fix
from ..providers import OPTIONAL_KEY
from ..redact import redact
from .base import Availability, Backend, Capabilities, ChatRequest, Reply, ScoreReply
from .registry import register_backend
from .served import with_version

PROBE_TIMEOUT_S = 1.0
PROTOCOL_RETRY_PAUSE_S = 0.25  # first pause before re-asking after a malformed 200; doubles, capped
PROTOCOL_RETRY_CAP_S = 4.0
PROBE_CACHE_S = 10.0
TOP_LOGPROBS = 20  # the most OpenAI and vLLM (by default) return per token
_DETAIL_PROVIDERS = {"openai", "openrouter"}  # others may reject the non-standard `detail` field
_SCHEMA_REJECTION = re.compile(r"response_format|json_schema|structured output|guided", re.I)
_MAX_SERVER_MESSAGE = 300
_STREAM_FIX = "the server's stream broke off; try again, or call without streaming"
_EMPTY_FIX = "it returned no answer at all; try again, or check that the model accepts images"

_probe_cache: dict[str, tuple[float, bool]] = {}
_probe_lock = threading.Lock()


@register_backend("openai")
class OpenAICompatible(Backend):
    def capabilities(self, spec) -> Capabilities:
        return _capabilities(spec)

    def availability(self, spec, keys: dict[str, str] | None = None) -> Availability:
        base = spec.resolved_base_url
        if not base:
            return Availability("unknown", _no_base_url_message(spec))
        missing = _missing_key_message(spec, keys)
        if missing:
            return Availability("key_missing", missing)
        if _is_loopback(base) and not _answers(base):
            return Availability("unreachable", f"{_where(spec)} is not answering — start the server or change "
                                               f"base_url; check it with `curl {base.rstrip('/')}/models`")
        return Availability("ready")

    def chat(self, spec, request: ChatRequest, keys: dict[str, str] | None = None) -> Reply:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case, worker threads included: no loop running in this thread
            return asyncio.run(self.achat(spec, request, keys))
        # Called from inside a running loop (a notebook cell): asyncio.run would refuse, so use a helper thread.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.achat(spec, request, keys)).result()

    def prepare_image(self, image, max_edge: int):
        """What `achat` would send for `image` at this long edge (JPEG bytes for a data URL). Thread-safe and
        CPU-bound: a batch calls it in its decoder threads and puts the result in `request.images` (at that same
        long edge), so the event loop that drives the calls only posts bytes."""
        from ..images import encode_image

        return encode_image(image, max_edge=max_edge)

    def lane(self, spec) -> str:
        return f"{self.name} {spec.resolved_base_url}"  # one lane, so one limit, per server

    def for_batch(self, spec):
        return spec.model_copy(update={"max_retries": 0})  # the batch lane retries: a 429 must slow every worker

    def session(self):
        """`async with backend.session():` — every `achat` awaited inside reuses one client per server and key.

        A batch makes thousands of calls; a new client costs ~20 ms of CPU (its SSL context) and a new connection.
        """
        return _shared_clients()

    async def achat(self, spec, request: ChatRequest, keys: dict[str, str] | None = None) -> Reply:
        call = _Call.prepare(spec, keys)
        started = time.perf_counter()
        messages, sent_bytes = _messages(spec, request)
        encode_s = time.perf_counter() - started
        try:
            async with deadline(spec.timeout):
                reply = await _answer(call, request, messages, started)
        except TimeoutError:
            raise call.error(DeadlineError, f"{spec.name} did not answer within {spec.timeout:g} s — raise "
                                            "`timeout` in the models file or check the server") from None
        except Exception as exc:
            error = call.error_from_client(exc)
            if error is None:
                raise
            raise error from None
        reply.latency_s = time.perf_counter() - started
        reply.sent_image_bytes = sent_bytes
        reply.metrics["encode_s"] = round(encode_s, 4)
        if reply.output_tokens and reply.latency_s > 0:
            generating = reply.latency_s - (reply.time_to_first_token_s or 0.0)
            reply.metrics["output_tokens_per_s"] = round(reply.output_tokens / max(generating, 1e-6), 2)
        return reply


    def score(self, spec, request: ChatRequest, questions: dict[str, dict], keys: dict[str, str] | None = None):
        """Label probabilities from the first answer token's `top_logprobs` (OpenAI, vLLM): one 1-token call per
        question (see label_questions.py). A server that returns none (transformers serve ignores `logprobs`) raises
        ScoreUnavailable: no number is ever made up."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.ascore(spec, request, questions, keys))
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, self.ascore(spec, request, questions, keys)).result()

    async def ascore(self, spec, request: ChatRequest, questions: dict[str, dict], keys: dict[str, str] | None = None):
        from .label_questions import (ScoreUnavailable, decision_prompt, label_candidates, options,
                                      probabilities_from_top_logprobs)

        started = time.perf_counter()
        reply = ScoreReply({}, {}, input_tokens=0)
        for name, question in questions.items():
            labels = reply.labels[name] = label_candidates(question)[0]
            top, tokens = await _top_logprobs(spec, dataclasses.replace(
                request, prompt=decision_prompt(question, labels), max_tokens=1, temperature=0.0, json_schema=None,
                on_text=None), keys)
            if not top:
                raise ScoreUnavailable(f"{_label(spec)} returned no top_logprobs for the answer token")
            reply.probabilities[name], mass = probabilities_from_top_logprobs(top, labels, options(question))
            reply.metrics[f"label_mass_{name.rsplit('.', 1)[-1]}"] = round(mass, 4)  # how much the top tokens held
            reply.input_tokens = None if tokens is None or reply.input_tokens is None else reply.input_tokens + tokens
        reply.latency_s = time.perf_counter() - started
        return reply


async def _top_logprobs(spec, request: ChatRequest, keys) -> tuple[list[tuple[str, float]], int | None]:
    """(token, logprob) pairs of the first generated token's alternatives, and the prompt's token count."""
    import openai

    call = _Call.prepare(spec, keys)
    messages, _ = _messages(spec, request)
    try:
        async with deadline(spec.timeout):
            async with openai.AsyncOpenAI(base_url=call.base_url, api_key=call.key or "not-needed",
                                          max_retries=spec.max_retries, timeout=spec.timeout) as client:
                completion = await _retrying(call, lambda: _logprobs_completion(call, client, messages, request))
    except TimeoutError:
        raise call.error(DeadlineError, f"{spec.name} did not answer within {spec.timeout:g} s") from None
    except openai.OpenAIError as exc:
        raise call.error_from_sdk(exc) from None
    choices = _get(completion, "choices")
    content = _get(_get(choices[0], "logprobs"), "content")
    top = _get(content[0], "top_logprobs") if content else None
    pairs = [(str(_get(t, "token")), float(_get(t, "logprob"))) for t in top or [] if _get(t, "logprob") is not None]
    return pairs, _int_or_none(_get(_get(completion, "usage"), "prompt_tokens"))


async def _logprobs_completion(call: "_Call", client, messages: list[dict], request: ChatRequest):
    """One 1-token completion with top_logprobs; a malformed 200 raises ProtocolError (an empty `choices` must not
    pass for "this server returns no logprobs", which would answer in generate mode instead)."""
    try:
        completion = await client.chat.completions.create(
            model=call.spec.model, messages=messages, max_tokens=request.max_tokens, temperature=0.0,
            logprobs=True, top_logprobs=TOP_LOGPROBS)
    except ValueError as exc:  # the SDK's json() on a body that claims to be JSON and is not
        raise call.protocol_error(exc) from None
    if isinstance(completion, (str, bytes)):
        raise call.protocol_error(_describe_text(completion))
    if not _get(completion, "choices"):
        raise call.protocol_error("no choices (`choices` is empty)", _EMPTY_FIX)
    return completion


# --- clients ---------------------------------------------------------------------------------------------


@dataclass
class _Session:
    loop: asyncio.AbstractEventLoop  # clients and connections belong to the loop that opened them
    sdk: dict = field(default_factory=dict)  # (base_url, key, retries, timeout) -> openai.AsyncOpenAI
    pools: dict = field(default_factory=dict)  # base_url -> lean_http.ConnectionPool, or None: not eligible


_SHARED_CLIENTS: contextvars.ContextVar[_Session | None] = contextvars.ContextVar("openai_clients", default=None)


@contextlib.asynccontextmanager
async def _shared_clients():
    session = _Session(asyncio.get_running_loop())
    token = _SHARED_CLIENTS.set(session)
    try:
        yield
    finally:
        _SHARED_CLIENTS.reset(token)
        for client in session.sdk.values():
            await client.close()
        for pool in session.pools.values():
            if pool is not None:
                await pool.aclose()


def _session() -> _Session | None:
    """The batch's shared clients, unless this code runs in another event loop (a thread the batch started for a
    sync call sees the same context variables, but must not touch connections of the batch's loop)."""
    session = _SHARED_CLIENTS.get()
    return session if session is not None and session.loop is asyncio.get_running_loop() else None


@contextlib.asynccontextmanager
async def _client(call: "_Call"):
    import openai

    spec, session = call.spec, _session()
    options = dict(base_url=call.base_url, api_key=call.key or "not-needed", max_retries=spec.max_retries,
                   timeout=spec.timeout)
    if session is None:
        async with openai.AsyncOpenAI(**options) as client:
            yield client
        return
    key = tuple(options.values())
    if key not in session.sdk:
        session.sdk[key] = openai.AsyncOpenAI(**options)
    yield session.sdk[key]


def _lean_pool(call: "_Call", request: ChatRequest):
    """The session's lean_http pool for this server, when the lean path does exactly what the SDK would: a
    non-streaming call, no SDK retries to honour (the batch lane retries), plain http and no proxy."""
    session = _session()
    if session is None or request.on_text is not None or call.spec.max_retries:
        return None
    if call.base_url not in session.pools:
        from .lean_http import ConnectionPool

        eligible = urlsplit(call.base_url).scheme == "http" and not _proxied(call.base_url)
        session.pools[call.base_url] = ConnectionPool(call.base_url) if eligible else None
    return session.pools[call.base_url]


def _proxied(url: str) -> bool:
    """Whether the SDK (httpx, trusting the environment) would send this URL through a proxy."""
    import urllib.request

    proxies = urllib.request.getproxies()
    if not ({"http", "all"} & set(proxies)):
        return False
    return not urllib.request.proxy_bypass(urlsplit(url).hostname or "")


class _LeanStatusError(Exception):
    """A non-2xx answer on the lean path, with the attributes of the SDK's APIStatusError that we read."""

    def __init__(self, response) -> None:
        text = response.body.decode("utf-8", "replace").strip()
        body, message = text, f"Error code: {response.status}"
        try:  # the SDK's own rule: the body's error.message, when there is one, goes into the message
            body = json.loads(text)
        except ValueError:
            pass
        else:
            error = body.get("error", body) if isinstance(body, dict) else None
            said = error.get("message") if isinstance(error, dict) else None
            if isinstance(said, str) and said:
                message += f" - {said}"
        super().__init__(message)
        self.status_code, self.response, self.message = response.status, response, message
        self.body = body.get("error", body) if isinstance(body, dict) else body


class _LeanClient:
    """A JSON POST over a lean_http pool that answers as the SDK's `post` does: parsed JSON, the text of a body
    that is not JSON, ValueError for a JSON content type that does not parse, an error for any non-2xx."""

    def __init__(self, pool, call: "_Call") -> None:
        self.pool, self.headers = pool, {"Content-Type": "application/json", "Accept": "application/json",
                                         "Authorization": f"Bearer {call.key or 'not-needed'}",
                                         "User-Agent": "vlm-workbench"}

    async def post_json(self, path: str, body: dict):
        # orjson: a photo's data URL is most of the body, and json.dumps spent 2.5 ms scanning its 670 KB for
        # characters to escape (orjson: 0.05 ms); the bytes are UTF-8 JSON either way.
        data = orjson.dumps(body)
        response = await self.pool.post(path, self.headers, data)
        if not 200 <= response.status < 300:
            raise _LeanStatusError(response)
        try:
            return json.loads(response.body)  # a body that is not JSON raises ValueError, as the SDK's json() does
        except ValueError:
            if response.content_type.split(";")[0].strip().endswith("json"):
                raise
            return response.body.decode("utf-8", "replace")  # the SDK hands non-JSON bodies back as text


# --- one call's context ---------------------------------------------------------------------------------


@dataclass
class _Call:
    spec: object
    base_url: str
    key: str | None
    label: str
    streamed: list[str] | None = None  # the text received so far, once a stream has started
    json_schema: str | None = None  # "sent" | "rejected"

    @classmethod
    def prepare(cls, spec, keys) -> "_Call":
        base, env, label = _server_of(spec)
        if not base:
            raise ConfigError(_no_base_url_message(spec))
        key = resolve_key(env, keys)
        if env and not key and spec.provider not in OPTIONAL_KEY:
            exc = KeyMissingError(f"{spec.name} needs {env} — {key_fix(env)}")
            exc.env_var = env
            raise exc
        return cls(spec, base, key, label)

    @property
    def partial_text(self) -> str | None:
        return None if self.streamed is None else "".join(self.streamed)

    def error(self, cls: type[BackendError], message: str) -> BackendError:
        exc = cls(redact(message, [self.key]))
        exc.partial_text = self.partial_text  # raw output so far: the caller keeps it with the failure
        return exc

    def protocol_error(self, cause: Exception | str, fix: str | None = None) -> BackendError:
        what = cause if isinstance(cause, str) else f"a body it could not parse ({type(cause).__name__}: {cause}" + (
            f"; {_begins(cause.doc)})" if isinstance(cause, json.JSONDecodeError) else ")")
        fix = fix or _without_version_fix(self.base_url) or f"is base_url ({self.base_url}) the API root ending in /v1?"
        return self.error(ProtocolError, f"{self.label} answered with {what}, not a chat completion — {fix}")

    def error_from_client(self, exc: Exception) -> BackendError | None:
        """The typed error for a failure of either client (the SDK or the lean path); None: not theirs."""
        from .lean_http import HTTPConnectionError

        if isinstance(exc, _LeanStatusError):
            return self.status_error(exc)
        if isinstance(exc, HTTPConnectionError):
            return self.connection_error(exc)
        openai = sys.modules.get("openai")  # only loaded when the SDK made the call: a lean batch never imports it
        if openai is not None and isinstance(exc, openai.OpenAIError):
            return self.error_from_sdk(exc)
        return None

    def error_from_sdk(self, exc) -> BackendError:
        import openai

        spec = self.spec
        if isinstance(exc, openai.APITimeoutError):
            return self.error(DeadlineError, f"{spec.name} did not answer within {spec.timeout:g} s — raise "
                                             "`timeout` in the models file or check the server")
        if isinstance(exc, openai.APIConnectionError):
            return self.connection_error(exc)
        if isinstance(exc, openai.APIStatusError):
            return self.status_error(exc)
        if isinstance(exc, openai.APIError):  # an error event inside a stream
            return self.error(ServerError, f"{self.label} reported an error while answering: "
                                           f"{_server_message(exc)} — try again or check the server's logs")
        return self.error(ProtocolError, f"{self.label}: {type(exc).__name__}: {exc}")

    def connection_error(self, exc) -> BackendError:
        """A dropped or refused connection (the SDK's APIConnectionError, or lean_http's HTTPConnectionError)."""
        cause = _root_cause(exc)
        if self.streamed is not None:
            return self.error(ProtocolError, f"{self.label} cut the stream off after {len(self.partial_text)} "
                                             f"characters ({cause}) — {_STREAM_FIX}")
        if "complete message body" in cause:
            return self.error(ProtocolError, f"{self.label} closed the connection in the middle of its answer "
                                             f"({cause}) — the server or a proxy in between cut it off; try again")
        return self.error(ConnectionFailedError, f"cannot reach {self.base_url} — is the server running? ({cause})")

    def not_found(self, said: str) -> BackendError:
        """A 404: the API root is wrong when base_url has no version (…/v1), else the server lacks the model."""
        wrong_root = _without_version_fix(self.base_url)
        if wrong_root:
            return self.error(NotFoundError, f"{self.label} answered 404 ({said}) at {self.base_url} — {wrong_root}")
        return self.error(NotFoundError, f"model {self.spec.model!r} not found at {self.base_url} ({said}) — "
                                         f"{self.label} does not serve it; GET {self.base_url.rstrip('/')}/models "
                                         "lists what it does")

    def status_error(self, exc) -> BackendError:
        """A non-2xx answer: the SDK's APIStatusError, or the lean path's _LeanStatusError (same attributes)."""
        status, said = exc.status_code, _server_message(exc)
        env, spec = self.spec.resolved_key_env, self.spec
        retries = f"after {spec.max_retries} retr{'y' if spec.max_retries == 1 else 'ies'}"
        if status in (401, 403):
            fix = (f"check {env}" if self.key else key_fix(env)) if env else \
                "this server wants a key: set key_env in the models file"
            return self.error(AuthError, f"key rejected by {self.label} ({status}: {said}) — {fix}")
        if status == 404:
            return self.not_found(said)
        if status == 429:
            after = exc.response.headers.get("retry-after")
            wait = f", retry-after {after} s" if after else ""
            exc_out = self.error(RateLimitError, f"{self.label} is rate-limiting {spec.name} ({retries}{wait}): "
                                                 f"{said} — wait, lower concurrency or raise max_retries")
            exc_out.retry_after = _float_or_none(after)
            return exc_out
        if status >= 500:
            return self.error(ServerError, f"{self.label} failed with {status} {retries}: {said} — try again "
                                           "later or check the server's logs")
        return self.error(BadRequestError, f"{self.label} rejected the request ({status}): {said}")


# --- building and sending the request --------------------------------------------------------------------


def _messages(spec, request: ChatRequest) -> tuple[list[dict], int]:
    from ..images import DEFAULT_MAX_EDGE, EncodedImage, encode_image

    max_edge = request.max_edge or spec.max_edge or DEFAULT_MAX_EDGE
    detail = request.detail if request.detail != "auto" else spec.detail
    content: list[dict] = [{"type": "text", "text": request.prompt}]
    sent = 0
    for image in request.images:
        encoded = image if isinstance(image, EncodedImage) else encode_image(image, max_edge=max_edge)
        sent += encoded.size_bytes
        image_url = {"url": encoded.data_url}
        if spec.provider in _DETAIL_PROVIDERS:
            image_url["detail"] = detail
        content.append({"type": "image_url", "image_url": image_url})
    return [{"role": "user", "content": content}], sent


def _body(spec, request: ChatRequest, messages: list[dict]) -> dict:
    kwargs: dict = {"model": spec.model, "messages": messages, "max_tokens": request.max_tokens,
                    "temperature": request.temperature}
    if request.reasoning_effort:  # set only for models that take it (models file, or the app's setting)
        kwargs["reasoning_effort"] = request.reasoning_effort
    if request.json_schema and _capabilities(spec).json_schema:
        kwargs["response_format"] = _response_format(request.json_schema)
    return kwargs


def chat_body(spec, request: ChatRequest) -> dict:
    """The body `achat` would POST to /chat/completions for this request: a Batch API line carries it as is."""
    return _body(spec, request, _messages(spec, request)[0])


def reply_of(spec, completion: dict, keys: dict[str, str] | None = None) -> Reply:
    """A chat completion received some other way (a Batch API output line) read as `achat` reads its answer;
    raises the same typed ProtocolError for a body that is no usable completion."""
    call = _Call(spec, spec.resolved_base_url or "", resolve_key(spec.resolved_key_env, keys), _label(spec))
    return _reply_from_completion(call, completion)


async def _complete(client, call: _Call, request: ChatRequest, messages: list[dict], started: float) -> Reply:
    kwargs = _body(call.spec, request, messages)
    if "response_format" in kwargs:
        call.json_schema = "sent"
    try:
        reply = await _send(client, call, request, kwargs, started)
    except Exception as exc:  # the SDK's BadRequestError / UnprocessableEntityError, or the lean path's
        if ("response_format" not in kwargs or getattr(exc, "status_code", None) not in (400, 422)
                or not _SCHEMA_REJECTION.search(str(getattr(exc, "message", "")))):
            raise
        kwargs.pop("response_format")  # this server does not do structured output: ask once more without it
        call.json_schema = "rejected"
        reply = await _send(client, call, request, kwargs, started)
    if call.json_schema:
        reply.metrics["json_schema"] = call.json_schema
    return reply


async def _answer(call: _Call, request: ChatRequest, messages: list[dict], started: float) -> Reply:
    async def once() -> Reply:
        pool = _lean_pool(call, request)
        if pool is not None:
            return await _complete(_LeanClient(pool, call), call, request, messages, started)
        async with _client(call) as client:
            return await _complete(client, call, request, messages, started)

    if not call.spec.max_retries:  # a batch's calls: its lane retries, so skip the wrapper on the hot path
        return await once()
    return await _retrying(call, once)


async def _retrying(call: _Call, once):
    """`await once()`, tried again (up to the spec's `max_retries`, with backoff, inside the caller's deadline)
    when a 200 is not a usable completion: the SDK retries 429s, 5xx and dropped connections itself, never a 200.
    No retry once a stream has shown text; a batch sends with max_retries 0 and its lane does the retrying."""
    tries = 0
    while True:
        try:
            return await once()
        except ProtocolError as exc:
            if tries >= call.spec.max_retries or call.streamed is not None:
                if tries:
                    exc.args = (f"{exc} (the same on all {tries + 1} tries)",)
                raise
        tries += 1
        await asyncio.sleep(min(PROTOCOL_RETRY_CAP_S, PROTOCOL_RETRY_PAUSE_S * 2 ** (tries - 1)) *
                            random.uniform(0.8, 1.2))


def _chat_completion_type():
    from openai.types.chat import ChatCompletion

    return ChatCompletion


def _response_format(json_schema: dict) -> dict:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(json_schema.get("name") or "answer"))[:64]
    schema = json_schema.get("schema", json_schema)
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}


async def _send(client, call: _Call, request: ChatRequest, kwargs: dict, started: float) -> Reply:
    if request.on_text is None:
        try:
            if isinstance(client, _LeanClient):
                completion = await client.post_json("/chat/completions", kwargs)
            else:  # a plain POST skips the SDK's type-driven walk of the request (~0.5 ms of CPU per call)
                completion = await client.post("/chat/completions", body=kwargs, cast_to=_chat_completion_type())
        except ValueError as exc:  # the SDK's json() on a body that claims to be JSON and is not
            raise call.protocol_error(exc) from None
        return _reply_from_completion(call, completion)
    stream = await client.chat.completions.create(**kwargs, stream=True, stream_options={"include_usage": True})
    async with stream:
        return await _read_stream(call, request, stream, started)


async def _read_stream(call: _Call, request: ChatRequest, stream, started: float) -> Reply:
    content_type = stream.response.headers.get("content-type", "")
    if "event-stream" not in content_type:
        return await _non_sse_answer(call, stream.response, content_type)
    call.streamed, thoughts = [], []
    finish_reason = usage = ttft = None
    chunks = 0
    iterator = stream.__aiter__()
    while True:
        try:
            chunk = await iterator.__anext__()
        except StopAsyncIteration:
            break
        except ValueError as exc:  # an SSE chunk that is not JSON
            raise call.protocol_error(f"a stream chunk it could not parse ({exc})", _STREAM_FIX) from None
        chunks += 1
        piece, thought, finish, chunk_usage = _parse_chunk(call, chunk)
        thoughts.append(thought)
        finish_reason = finish or finish_reason
        usage = chunk_usage or usage
        if piece:
            if ttft is None:
                ttft = time.perf_counter() - started
            call.streamed.append(piece)
            request.on_text("".join(call.streamed))  # outside any try: a failing callback is the caller's bug
    if finish_reason is None and usage is None:
        what = "an empty stream" if not chunks else "a stream that stopped before its final chunk"
        raise call.protocol_error(what, _STREAM_FIX)
    return _reply(_with_thinking(call.partial_text or "", "".join(thoughts)), finish_reason, usage, ttft)


async def _non_sse_answer(call: _Call, response, content_type: str) -> Reply:
    """A server that ignored `stream` (or a web page at the wrong URL) answered with a single body."""
    body = await response.aread()
    if "json" not in content_type:
        raise call.protocol_error(_describe_text(body.decode("utf-8", "replace")))
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise call.protocol_error(exc) from None
    return _reply_from_completion(call, data)


# --- reading the answer ----------------------------------------------------------------------------------


def _reply_from_completion(call: _Call, completion) -> Reply:
    if isinstance(completion, (str, bytes)):  # the SDK hands back non-JSON bodies as text
        raise call.protocol_error(_describe_text(completion))
    try:
        choices = _get(completion, "choices")
        if not choices:
            raise call.protocol_error("no choices (`choices` is empty)", _EMPTY_FIX)
        choice = choices[0]
        message = _get(choice, "message")
        if message is None:
            raise call.protocol_error("a choice without a message", _EMPTY_FIX)
        content, refusal, finish = _get(message, "content"), _get(message, "refusal"), _get(choice, "finish_reason")
        thinking = _thinking(message)
        if content is None and not refusal and not thinking and finish not in ("length", "content_filter"):
            raise call.protocol_error("a message whose `content` is null", _EMPTY_FIX)
        return _reply(_with_thinking(_text(content, refusal), thinking), finish, _get(completion, "usage"), None)
    except (AttributeError, KeyError, TypeError, IndexError, ValueError) as exc:
        raise call.protocol_error(exc) from None


def _parse_chunk(call: _Call, chunk) -> tuple[str, str, str | None, object]:
    """(answer text, reasoning text, finish_reason, usage) of one stream chunk."""
    try:
        piece, thought, finish = "", "", None
        for choice in _get(chunk, "choices") or []:
            delta = _get(choice, "delta")
            piece += _text(_get(delta, "content") if delta is not None else None)
            thought += _thinking(delta) if delta is not None else ""
            finish = _get(choice, "finish_reason") or finish
        return piece, thought, finish, _get(chunk, "usage")
    except (AttributeError, KeyError, TypeError, IndexError, ValueError) as exc:
        raise call.protocol_error(exc, _STREAM_FIX) from None


def _reply(text: str, finish_reason, usage, ttft: float | None) -> Reply:
    input_tokens, output_tokens, reasoning_tokens = _token_counts(usage)
    reply = Reply(text=text, finish_reason=str(finish_reason) if finish_reason else None,
                  input_tokens=input_tokens, output_tokens=output_tokens,
                  reported_cost=_float_or_none(_get(usage, "cost")), time_to_first_token_s=ttft)
    if reasoning_tokens is not None:
        reply.metrics["reasoning_tokens"] = reasoning_tokens
    return reply


def _token_counts(usage) -> tuple[int | None, int | None, int | None]:
    """(input tokens, output tokens billed, of which reasoning). OpenAI, DeepSeek and vLLM count the reasoning
    inside `completion_tokens`; a provider whose `total_tokens` shows it left them out gets them added, once."""
    if usage is None:
        return None, None, None
    prompt, completion = _int_or_none(_get(usage, "prompt_tokens")), _int_or_none(_get(usage, "completion_tokens"))
    details = _get(usage, "completion_tokens_details")
    reasoning = None if details is None else _int_or_none(_get(details, "reasoning_tokens"))
    if reasoning and completion is not None and prompt is not None \
            and _int_or_none(_get(usage, "total_tokens")) == prompt + completion + reasoning:
        return prompt, completion + reasoning, reasoning
    return prompt, completion, reasoning


def _thinking(message) -> str:
    """The reasoning a provider returns beside the answer: `reasoning_content` (DeepSeek, vLLM) or `reasoning`
    (OpenRouter, Ollama)."""
    for name in ("reasoning_content", "reasoning"):
        value = _get(message, name)
        if isinstance(value, str) and value:
            return value
    return ""


def _with_thinking(text: str, thinking: str) -> str:
    """The raw text keeps the reasoning, as a `<think>` block that parsing strips before reading the answer."""
    if not thinking or "<think>" in text:
        return text
    return f"<think>\n{thinking.strip()}\n</think>\n\n{text}"


def _get(obj, name: str):
    """Field of an SDK model (extra fields included) or of a plain dict; None when absent."""
    if type(obj) is dict:  # the lean path's parsed JSON: the common case, first
        return obj.get(name)
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        value = (getattr(obj, "model_extra", None) or {}).get(name)
    return value


def _text(content, refusal=None) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer with content parts
        return "".join(str(_get(part, "text") or "") for part in content)
    return str(refusal) if refusal else ""


def _describe_text(body: str | bytes) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    head = text.lstrip()[:200].lower()
    if head.startswith(("<!doctype html", "<html")) or "<html" in head:
        return f"an HTML page ({_begins(text)})"
    if not text.strip():
        return "an empty body"
    return f"text that is not JSON ({_begins(text)})"


def _begins(body: str | bytes) -> str:
    """The first bytes of a body that was not a chat completion, for the failure's message."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return f"it begins {_trim(text, 80)!r}"


def _int_or_none(value) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value) -> float | None:
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


# --- messages --------------------------------------------------------------------------------------------


def _capabilities(spec) -> Capabilities:
    preset = spec.preset
    json_schema = spec.json_schema if spec.json_schema is not None else bool(preset and preset.json_schema)
    base = spec.resolved_base_url
    return Capabilities(images=True, json_schema=json_schema, logprobs=bool(preset and preset.logprobs),
                        local=bool(base and _is_loopback(base)), streaming=True, concurrent=True, encodes_ahead=True)


def _server_of(spec) -> tuple[str | None, str | None, str]:
    """(base URL, key variable, label) of a spec's server, worked out once per server: a batch makes every call
    with the same few specs, and the preset lookups behind these add up over thousands of calls."""
    found = _SERVERS.get((spec.provider, spec.base_url, spec.key_env))
    if found is None:
        found = _SERVERS[(spec.provider, spec.base_url, spec.key_env)] = \
            (spec.resolved_base_url, spec.resolved_key_env, _label(spec))
    return found


_SERVERS: dict[tuple, tuple] = {}  # (provider, base_url, key_env) → _server_of's answer; presets never change


def _label(spec) -> str:
    preset = spec.preset
    if preset and spec.provider != "custom":
        return preset.label
    return f"the server at {spec.resolved_base_url}"


def _where(spec) -> str:
    label = _label(spec)
    return label if label.startswith("the server at") else f"{label} at {spec.resolved_base_url}"


def _no_base_url_message(spec) -> str:
    return f"{spec.name} has no base_url — set base_url in the models file to the server's API root (ending in /v1)"


def _without_version_fix(base_url: str) -> str | None:
    """The fix for a base_url without an API version in its path; None when it has one."""
    fixed = with_version(base_url)
    return fixed and f"base_url {base_url} is missing /v1 — set it to the API root, e.g. {fixed}"


def _missing_key_message(spec, keys) -> str | None:
    env = spec.resolved_key_env
    if not env or spec.provider in OPTIONAL_KEY or resolve_key(env, keys):
        return None
    return f"{spec.name} needs {env} — {key_fix(env)}"


def _server_message(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        said = body.get("message") or body.get("detail") or body.get("error") or json.dumps(body)
    elif isinstance(body, str) and body.strip():
        said = body
    else:
        said = getattr(exc, "message", "") or str(exc)
    said = str(said)
    if "<html" in said[:300].lower():
        return "an HTML error page"
    return _trim(said, _MAX_SERVER_MESSAGE)


def _trim(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _root_cause(exc: BaseException) -> str:
    seen = exc
    while seen.__cause__ is not None and seen.__cause__ is not seen:
        seen = seen.__cause__
    return _trim(str(seen) or type(seen).__name__, 200)


# --- reachability of servers on this machine ---------------------------------------------------------------


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _answers(base_url: str) -> bool:
    """GET {base}/models, cached briefly: any HTTP answer (even 401 or 500) means a server is listening."""
    now = time.monotonic()
    with _probe_lock:
        cached = _probe_cache.get(base_url)
    if cached and now - cached[0] < PROBE_CACHE_S:
        return cached[1]
    import http.client  # not httpx: its import and SSL context cost ~0.1 s, at the start of every batch

    parts = urlsplit(f"{base_url.rstrip('/')}/models")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.netloc, timeout=PROBE_TIMEOUT_S)
    try:
        conn.request("GET", parts.path or "/")
        conn.getresponse().read()
        answered = True
    except (OSError, http.client.HTTPException):
        answered = False
    finally:
        conn.close()
    with _probe_lock:
        _probe_cache[base_url] = (now, answered)
    return answered
