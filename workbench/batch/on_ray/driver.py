"""The driver's side of a Ray run: the pending items go to Ray Data as small blocks, `LaneWorker` actors send
them, and their rows stream back and are committed to the run store as they arrive.

What an interruption can cost: answers are committed within GROUP_COMMIT_S of reaching the driver, and a block
reaches it once its ITEMS_PER_BLOCK items have all ended; so a run killed at any moment loses at most the answers
of the blocks in flight — actors × BLOCKS_PER_ACTOR × ITEMS_PER_BLOCK items (2 × 4 × 8 = 64 with the defaults).
Nothing stored is ever sent again: a re-run sends only what the store lacks."""
from __future__ import annotations

import dataclasses
import logging
import math
import uuid

from ...backends import Availability, get_backend
from ...errors import BackendError, WorkbenchError
from ...keys import resolve_key
from ...models import ModelSpec
from ..context import Options, RunContext
from ..items import Item
from ..lane import lane_of
from .cluster import connect
from .limits import LIMITS_ACTOR, LIMITS_NAMESPACE, SharedLimits
from .wire import Outcome, item_row
from .worker import LaneWorker, RunBundle

DEFAULT_ACTORS = 2
ITEMS_PER_BLOCK = 8  # items per Ray Data block (one map batch): what comes back to the driver at once
BLOCKS_PER_ACTOR = 4  # map batches in flight on one actor at once, on its event loop
IO_ACTOR_CPUS = 0.25  # HTTP workers wait on the network; a whole CPU each starved the read stage on 2 cores
LEASE_MARGIN_S = 5.0  # a slot held by a worker that died comes back this long after its call's timeout


def through_ray(address: str | None = None, actors: int | None = None):
    """What `Execution` calls to send the pending items: Ray Data instead of this process's lanes."""
    def send(context: RunContext, pending: list[Item]) -> None:
        RaySend(context, address, actors or DEFAULT_ACTORS).run(pending)
    return send


class RaySend:
    def __init__(self, context: RunContext, address: str | None, actors: int) -> None:
        self.context, self.address, self.actors = context, address, actors
        self.done: set[int] = set()  # indexes of this stream committed (a block Ray ran twice is stored once)
        self.recorded: set[str] = set()  # image files whose hash is recorded this run
        self.startup_s: float | None = None

    def run(self, pending: list[Item]) -> None:
        pending = self._screen(pending)
        if not pending:
            return
        self.context.progress.note("starting Ray…")
        ray, started, self.startup_s = connect(self.address)
        quiet, level = logging.getLogger("ray.data"), logging.getLogger("ray.data").level
        quiet.setLevel(logging.ERROR)  # its INFO lines would break into the run's own bar
        try:
            self.context.progress.note(f"Ray up in {self.startup_s:.0f} s, starting its workers…")
            ray.data.DataContext.get_current().enable_progress_bars = False  # the run's own bar says it all
            local = [it for it in pending if _is_local(it)]
            remote = [it for it in pending if not _is_local(it)]
            if remote:
                self._stream(ray, remote, local=False)
            if local:
                self._stream(ray, local, local=True)
        finally:
            quiet.setLevel(level)
            self.context.progress.note("")
            if started:
                ray.shutdown()

    def _screen(self, pending: list[Item]) -> list[Item]:
        """Models that cannot run now (no key, package missing) are stored as failures here, not sent."""
        blocked: dict[str, Availability] = {}
        for spec in {it.spec.name: it.spec for it in pending}.values():
            try:
                status = get_backend(spec.backend).availability(spec, self.context.options.keys)
            except BackendError as e:
                status = Availability("unknown", str(e))
            if not status.runnable:
                blocked[spec.name] = status
                self.context.say(f"{spec.name}: {status.message or status.status} — its items are stored as "
                                 "failures, not sent")
        for it in pending:
            if it.spec.name in blocked:
                self.context.emit_failure(it, blocked[it.spec.name].status, blocked[it.spec.name].message)
        return [it for it in pending if it.spec.name not in blocked]

    def _stream(self, ray, items: list[Item], local: bool) -> None:
        context = self.context
        self.done = set()  # indexes are per stream: local models' items are a second stream
        limits, scope = None, None
        if not local:
            scope = f"{context.run_id}-{uuid.uuid4().hex[:8]}"
            limits = ray.remote(SharedLimits).options(name=LIMITS_ACTOR, namespace=LIMITS_NAMESPACE,
                                                      get_if_exists=True, num_cpus=0).remote()
            lease_s = max(it.spec.timeout for it in items) + LEASE_MARGIN_S
            ray.get(limits.configure.remote(scope, context.options.workers, context.options.max_auth_failures,
                                            context.run_id, lease_s))
        specs = {it.spec.name: it.spec for it in items}
        bundle = RunBundle(context.run_id, context.task, specs, context.params, _with_keys(context.options, specs),
                           scope)
        try:
            for batch in self._dataset(ray, items, bundle, local).iter_batches(batch_size=None, prefetch_batches=0):
                self._commit(batch, items)
        except (WorkbenchError, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 — Ray's own failures: the cluster went away, a node died…
            raise WorkbenchError(f"the Ray run stopped ({type(e).__name__}: {str(e)[:500]}) — every answer "
                                 "received is stored; run the same batch again to resume") from None
        finally:
            if limits is not None:
                self._say_stops(ray, limits, scope)

    def _dataset(self, ray, items: list[Item], bundle: RunBundle, local: bool):
        rows = [item_row(n, it) for n, it in enumerate(items)]
        blocks = max(1, math.ceil(len(rows) / ITEMS_PER_BLOCK))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        gpus = ray.cluster_resources().get("GPU", 0) if local else 0
        actors = max(1, int(gpus)) if local and gpus else (1 if local else self.actors)
        actors = min(actors, blocks)  # an actor with no block to run only costs its start (and Ray warns)
        in_flight = 1 if local else BLOCKS_PER_ACTOR
        strategy = ray.data.ActorPoolStrategy(size=actors, max_concurrent_calls_per_actor=in_flight,
                                              max_tasks_in_flight_per_actor=in_flight)
        size = max(ITEMS_PER_BLOCK, self.context.options.batch_size) if local else ITEMS_PER_BLOCK
        return ds.map_batches(LaneWorker, fn_constructor_args=(bundle,), batch_size=size, compute=strategy,
                              num_cpus=0.5 if local else IO_ACTOR_CPUS, num_gpus=1 if gpus else 0)

    def _commit(self, batch: dict, items: list[Item]) -> None:
        context = self.context
        if context.writer.error is not None:
            raise WorkbenchError(f"the run store failed: {context.writer.error}")
        if not self.done:
            context.progress.note("")  # the first answers are in: the bar says the rest
        for index, payload in zip(batch["i"], batch["outcome"]):
            outcome = Outcome.of_row(index, payload)
            if outcome.index in self.done:
                continue
            self.done.add(outcome.index)
            item = items[outcome.index]
            if outcome.image_hash:
                item.set_image_hash(outcome.image_hash)
                if outcome.stat and item.input.path not in self.recorded:
                    self.recorded.add(item.input.path)
                    context.writer.put_image((item.input.path, *outcome.stat, outcome.image_hash))
            context.progress.calls += outcome.attempts
            context.emit(item, outcome.result, outcome.attempts)

    def _say_stops(self, ray, limits, scope: str) -> None:
        try:
            report = ray.get(limits.report.remote(scope), timeout=10)
            limits.forget.remote(scope)
        except Exception:  # noqa: BLE001 — the messages are a courtesy; the rows already say why
            return
        for message in report["stopped"].values():
            self.context.say(message)


def _with_keys(options: Options, specs: dict[str, ModelSpec]) -> Options:
    """The run's options with each model's key resolved here (given, .env or environment): a cluster's nodes do not
    share the driver's environment. Keys reach the workers as actor arguments, never in a row or a result."""
    keys = dict(options.keys or {})
    for spec in specs.values():
        env = spec.resolved_key_env
        if env and env not in keys and (value := resolve_key(env, keys)):
            keys[env] = value
    return dataclasses.replace(options, keys=keys or None)


def _is_local(item: Item) -> bool:
    return lane_of(item.spec, get_backend(item.spec.backend))[1]
