"""One limit per server for the whole cluster: a small named Ray actor holds each lane's `Limiter` and
`AuthBreaker` (the very classes a single-machine lane uses), and every worker's `Sender` talks to it through
the two stand-ins below. A 429 anywhere pauses every worker calling that server (retry-after honoured) and
halves the cluster's limit; `max_auth_failures` consecutive 401/403s stop that server's items everywhere.

A worker that dies mid-call cannot release its slot, so every slot is a lease that lapses after `lease_s`
(longer than a call may take): a killed worker costs the cluster a slot for that long, never for good."""
from __future__ import annotations

import asyncio
import itertools
import time

from ...errors import AuthError
from ..limiter import Limiter
from ..retry import AuthBreaker

REAP_EVERY_S = 1.0
LIMITS_ACTOR, LIMITS_NAMESPACE = "workbench-limits", "workbench"


class SharedLimits:
    """The body of the shared-limits actor (made a Ray actor by the driver, so this module never imports ray).
    One actor per Ray session serves every run: a run's lanes are named `SCOPE|lane`, its settings set per scope
    (`configure`), so a second run does not pay for another actor process."""

    def __init__(self) -> None:
        self.settings: dict[str, tuple[int, int, str, float]] = {}  # scope -> workers, auth limit, run, lease_s
        self.lanes: dict[str, tuple[Limiter, AuthBreaker]] = {}
        self.leases: dict[int, tuple[str, float]] = {}  # lease -> (lane, when it lapses)
        self._ids = itertools.count(1)
        self._reaper: asyncio.Task | None = None
        self.most_active: dict[str, int] = {}  # lane -> most calls in flight at once, cluster-wide

    async def configure(self, scope: str, workers: int, max_auth_failures: int, run_id: str, lease_s: float) -> None:
        self.settings[scope] = (workers, max_auth_failures, run_id, lease_s)

    async def forget(self, scope: str) -> None:
        for lane in [lane for lane in self.lanes if lane.startswith(scope + "|")]:
            del self.lanes[lane]
        self.settings.pop(scope, None)

    def _lane(self, lane: str) -> tuple[Limiter, AuthBreaker]:
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())
        if lane not in self.lanes:
            scope, name = lane.split("|", 1)
            workers, max_auth_failures, run_id, _ = self.settings[scope]
            self.lanes[lane] = (Limiter(workers), AuthBreaker(max_auth_failures, name, run_id))
        return self.lanes[lane]

    async def acquire(self, lane: str) -> tuple[int | None, float, str | None]:
        """(lease, start time on this actor's clock, why the lane stopped): no lease once the lane has stopped."""
        limiter, breaker = self._lane(lane)
        if breaker.stopped:
            return None, time.monotonic(), breaker.stopped
        began = await limiter.acquire()
        if breaker.stopped:  # stopped while this call waited for its slot
            limiter.release()
            return None, began, breaker.stopped
        lease = next(self._ids)
        self.leases[lease] = (lane, time.monotonic() + self.settings[lane.split("|", 1)[0]][3])
        self.most_active[lane] = max(self.most_active.get(lane, 0), limiter.active)
        return lease, began, None

    async def release(self, lease: int) -> None:
        entry = self.leases.pop(lease, None)
        if entry is not None and entry[0] in self.lanes:
            self.lanes[entry[0]][0].release()

    async def succeeded(self, lane: str) -> None:
        limiter, breaker = self._lane(lane)
        limiter.succeeded()
        breaker.succeeded()

    async def rate_limited(self, lane: str, retry_after: float | None, began: float) -> None:
        self._lane(lane)[0].rate_limited(retry_after, began)

    async def auth_failed(self, lane: str, message: str) -> None:
        limiter, breaker = self._lane(lane)
        limiter.probe()  # one call at a time, cluster-wide, until a call succeeds
        breaker.failed(AuthError(message))

    async def report(self, scope: str) -> dict:
        """What the driver reads at the end: why lanes stopped (said once), and the most calls in flight."""
        mine = {lane: pair for lane, pair in self.lanes.items() if lane.startswith(scope + "|")}
        stopped = {lane: b.stopped for lane, (_, b) in mine.items() if b.stopped}
        return {"stopped": stopped, "most_active": {lane: self.most_active.get(lane, 0) for lane in mine}}

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_EVERY_S)
            now = time.monotonic()
            for lease in [k for k, (_, until) in self.leases.items() if until < now]:
                await self.release(lease)


class ClusterLimiter:
    """What a worker's Sender sees as its lane's Limiter: each call takes a cluster-wide slot from the actor."""

    def __init__(self, actor, lane: str, workers: int, breaker: "ClusterBreaker") -> None:
        self.actor, self.lane, self.max, self.breaker = actor, lane, workers, breaker
        self._leases: list[int | None] = []

    async def acquire(self) -> float:
        lease, began, stopped = await self.actor.acquire.remote(self.lane)
        self._leases.append(lease)  # slots are alike: release() gives back any one of this worker's
        self.breaker.stopped = stopped
        return began

    def release(self) -> None:
        lease = self._leases.pop() if self._leases else None
        if lease is not None:
            self.actor.release.remote(lease)

    def succeeded(self) -> None:
        self.actor.succeeded.remote(self.lane)

    def rate_limited(self, retry_after: float | None, began: float) -> None:
        self.actor.rate_limited.remote(self.lane, retry_after, began)

    def probe(self) -> None:
        """The actor probes (see SharedLimits.auth_failed)."""


class ClusterBreaker:
    """What a worker's Sender sees as its lane's AuthBreaker: counting happens in the actor; `stopped` is what the
    actor said at this worker's last slot request. The stop message is said once, by the driver."""

    def __init__(self, actor, lane: str) -> None:
        self.actor, self.lane = actor, lane
        self.stopped: str | None = None

    def succeeded(self) -> None:
        """Counted by the actor (ClusterLimiter.succeeded)."""

    def failed(self, error: AuthError) -> str | None:
        self.actor.auth_failed.remote(self.lane, str(error))
        return None
