"""Retry and stop policies of a lane, as plain objects: which failures are tried again and after how long, how
long a 429 pauses the lane, and when rejected keys stop it."""
from __future__ import annotations

import random

from ..errors import AuthError, BackendError, RateLimitError

DEFAULT_MAX_ATTEMPTS = 5  # first try + 4 retries of 429 / 5xx / dropped connections
DEFAULT_MAX_AUTH_FAILURES = 3
BASE_PAUSE_S = 0.05
MAX_PAUSE_S = 300.0


def backoff(attempt: int) -> float:
    """Seconds before retry number `attempt`: doubling from BASE_PAUSE_S up to 10 s, jittered ±20 % so that the
    workers a failure hit together do not all come back together."""
    return min(10.0, BASE_PAUSE_S * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def rate_limit_pause(retry_after: float | None, streak: int) -> float:
    """How long a 429 pauses the whole lane: the server's retry-after where it gave one, at least a pause that
    doubles with each 429 in a row, and never more than MAX_PAUSE_S (a bogus retry-after must not stall a run)."""
    return min(max(retry_after or 0.0, BASE_PAUSE_S * 2 ** min(streak - 1, 12)), MAX_PAUSE_S)


class RetryPolicy:
    """Which failed attempts are tried again: a retryable backend failure (429, 5xx, a dropped connection) while
    attempts remain. Anything else — a rejected key, a bad request, an error of our own — is settled at once."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def pause(self, error: BaseException, attempts: int) -> float | None:
        """Seconds to wait before the next attempt after `attempts` tries, or None to give up. A 429 waits 0 s
        here: it already paused the whole lane (see `Limiter.rate_limited`)."""
        if not (isinstance(error, BackendError) and error.retryable and attempts < self.max_attempts):
            return None
        return 0.0 if isinstance(error, RateLimitError) else backoff(attempts)


class AuthBreaker:
    """Stops a lane after `limit` consecutive authentication failures (401/403): a rejected key then costs a
    few calls, and the rest of the lane's items are stored as failures, to be retried once the key is fixed."""

    def __init__(self, limit: int, lane: str, run_id: str) -> None:
        self.limit, self.lane, self.run_id = limit, lane, run_id
        self.failures = 0
        self.stopped: str | None = None  # why the lane stopped: the failure stored for each item not sent

    def succeeded(self) -> None:
        self.failures = 0

    def failed(self, error: AuthError) -> str | None:
        """Count a rejected call; returns the message to show when this failure stops the lane."""
        self.failures += 1
        if self.failures < self.limit or self.stopped:
            return None
        self.stopped = (f"{self.lane}: stopped after {self.failures} consecutive authentication failures "
                        f"({error}); the remaining items were not sent — fix the key, then retry the failed "
                        f"items (`workbench retry {self.run_id}`)")
        return self.stopped
