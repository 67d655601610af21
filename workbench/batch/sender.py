"""Sending a lane's calls: one item with retries (through the call lifecycle), or several images in one forward
pass where a local backend batches."""
from __future__ import annotations

import asyncio
import time

from ..backends import Backend, Capabilities
from ..errors import AuthError, RateLimitError
from ..lifecycle import attempt_async, failure, settle
from ..models import ModelSpec
from ..results import Result
from .context import RunContext
from .items import Item
from .limiter import Limiter
from .reader import Picture
from .retry import AuthBreaker, RetryPolicy

ASSUMED_CALL_S = 0.05  # until a lane's first answers: a fast server, so photos get their decoders at once


class Sender:
    """A lane's calls. The limiter, retry policy and auth breaker decide when to send and when to stop;
    `call_s` follows how long recent calls took (the reader sizes its decoders by it)."""

    def __init__(self, context: RunContext, backend: Backend, limiter: Limiter, breaker: AuthBreaker,
                 capabilities: dict[str, Capabilities]) -> None:
        self.context, self.backend, self.limiter, self.breaker = context, backend, limiter, breaker
        self.retry = RetryPolicy(context.options.max_attempts)
        self.capabilities = capabilities  # model name -> Capabilities, filled by the lane before any call
        self.models: dict[str, tuple] = {}  # see model()
        self.call_s = ASSUMED_CALL_S  # seconds a call takes, a running average once calls answer

    def model(self, spec: ModelSpec) -> tuple[ModelSpec, Capabilities]:
        """Per model, once per lane: the spec calls are sent with (the backend's batch settings), its capabilities."""
        if spec.name not in self.models:
            self.models[spec.name] = (self.backend.for_batch(spec), self.capabilities[spec.name])
        return self.models[spec.name]

    async def call(self, item: Item, picture: Picture) -> tuple[Result, int]:
        """Try until an answer, a failure retries cannot fix, or max_attempts; retries act on the exception."""
        context, limiter, breaker = self.context, self.limiter, self.breaker
        send_spec, capabilities = self.model(item.spec)
        plan = context.plan(item, picture.source, picture.sha256)
        request = plan.request([picture.for_request], capabilities)
        attempts = 0
        while True:
            if breaker.stopped:
                return settle(plan, failure(AuthError.kind, breaker.stopped)), attempts
            began = await limiter.acquire()
            if breaker.stopped:  # the lane stopped while this worker waited for its slot
                limiter.release()
                continue
            attempts += 1
            context.progress.calls += 1
            started = time.perf_counter()
            try:
                outcome = await attempt_async(plan, self.backend, request, send_spec)
            except Exception as e:  # noqa: BLE001 — sorted out below: one broken call must not sink the batch
                outcome = e
            finally:
                limiter.release()
            elapsed = time.perf_counter() - started
            if not isinstance(outcome, Exception):
                breaker.succeeded()
                limiter.succeeded()
                self.call_s += 0.2 * (elapsed - self.call_s)  # follows recent calls
                return settle(plan, outcome, elapsed=elapsed), attempts
            if isinstance(outcome, RateLimitError):
                limiter.rate_limited(outcome.retry_after, began)
            elif isinstance(outcome, AuthError):
                self._auth_failed(outcome)
            pause = self.retry.pause(outcome, attempts)
            if pause is None:
                return settle(plan, outcome, elapsed=elapsed), attempts
            if pause:
                await asyncio.sleep(pause)

    def _auth_failed(self, error: AuthError) -> None:
        self.limiter.probe()  # one call at a time until a call succeeds: a rejected key costs few calls
        message = self.breaker.failed(error)
        if message is not None:
            self.context.say(message)

    async def call_batch(self, batch: list[tuple[Item, Picture]]) -> list[tuple[Result, int]]:
        """Several items of one model in one `chat_batch` forward pass (a local backend): one attempt, no retries."""
        if len(batch) == 1 or self.breaker.stopped:
            return [await self.call(*entry) for entry in batch]
        context, spec = self.context, batch[0][0].spec
        send_spec, capabilities = self.model(spec)
        plans = [context.plan(item, picture.source, picture.sha256) for item, picture in batch]
        requests = [plan.request([picture.image], capabilities) for plan, (_, picture) in zip(plans, batch)]
        context.progress.calls += 1
        started = time.perf_counter()
        try:
            replies = await asyncio.to_thread(self.backend.chat_batch, send_spec, requests, len(requests),
                                              keys=context.options.keys)
        except Exception as e:  # noqa: BLE001
            replies = [e] * len(plans)
        elapsed = time.perf_counter() - started
        return [(settle(plan, reply, elapsed=elapsed), 1) for plan, reply in zip(plans, replies)]
