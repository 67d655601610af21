"""Never paying twice: items served from the store (before their image is read, where the file is unchanged, or
once its hash is known), and from this batch's own answers — received, or still on their way (single flight)."""
from __future__ import annotations

import asyncio
import json
from typing import Awaitable, Callable

from ..image_prep import file_stat
from ..store import RunStore, now_iso
from .inputs import variables_text
from .items import Item
from .writer import Writer

STORED = {"stored": True}  # in Answers.answered: this answer is committed (look it up in the store)
SEND, FOLLOW, SERVED = "send", "follow", "served"  # what `Answers.serve` decided for an item


class Answers:
    """The store's answers and this batch's, by call key.

    `answered` holds this batch's answers while the writer may not have committed them, then only STORED (a key,
    not the row: memory stays bounded); `inflight` holds a future per call on its way, which its followers
    await."""

    def __init__(self, store: RunStore, run_id: str, writer: Writer, force: bool) -> None:
        self.store, self.run_id, self.writer, self.force = store, run_id, writer, force
        self.answered: dict[str, dict] = {}
        self.inflight: dict[str, asyncio.Future] = {}

    def committed(self, rows: list[dict]) -> None:
        """In the writer thread, once `rows` are durable: from now on the store answers for them."""
        for row in rows:
            if not row["cached"] and row["status"] != "error":
                self.answered[row["call_key"]] = STORED

    def remember(self, item: Item, row: dict) -> None:
        """An answer just received, before the writer can commit it (see `committed`)."""
        if row["status"] != "error" and item.call_key:
            self.answered[item.call_key] = row

    def stored(self, keys: list[str]) -> dict[str, dict]:
        """The store's answers for these call keys (none when every call is to be sent): asked by the decoder."""
        return {} if self.force or not keys else self.store.cached(keys)

    def serve(self, item: Item, hits: dict) -> str:
        """SERVED (copied from `hits`, the store's answers looked up by the decoder, or from this batch's answers
        given since), FOLLOW (the same call is on its way) or SEND."""
        key = item.call_key
        if key in self.inflight:  # identical pixels under another name, already on its way
            return FOLLOW
        if self.force:
            return SEND
        if key in hits:
            self.copy_stored(item, hits[key])
            return SERVED
        row = self.answered.get(key)
        if row is None:
            return SEND
        if row is STORED:  # committed after the decoder looked: rare (duplicate pixels), asked again
            stored = self.store.cached([key])
            if key not in stored:
                return SEND
            self.copy_stored(item, stored[key])
            return SERVED
        self.copy_row(item, row)
        return SERVED

    def start(self, item: Item, loop: asyncio.AbstractEventLoop) -> None:
        self.inflight[item.call_key] = loop.create_future()

    def settle(self, item: Item, row: dict) -> None:
        """The call of `item` ended: its followers copy the answer, or (a failure) send their own."""
        future = self.inflight.pop(item.call_key, None)
        if future is not None and not future.done():
            future.set_result(row if row["status"] != "error" else None)

    def copy_row(self, item: Item, row: dict) -> None:
        """`item` answered by a row of this batch (still in memory): same answer, marked as cached."""
        self.writer.put(_copied(row, item, self.run_id))

    def copy_stored(self, item: Item, hit: dict) -> None:
        """`item` answered by a row already in the store: copied inside SQLite."""
        self.writer.put_copy(RunStore.copy_of(hit["id"], self._copy_fields(item)),
                             {"status": hit["status"], "cached": 1, "cost": hit["cost"], "call_key": item.call_key})

    def _copy_fields(self, item: Item) -> dict:
        """The item's own columns of a row copied from a stored answer."""
        return {"run_id": self.run_id, "image_path": item.input.path, "image_hash": item.image_hash,
                "variables": item.input.variables, "expected": item.input.label, "model": item.spec.name,
                "prompt_version": item.version, "prompt_hash": item.prompt_hash, "params_hash": item.params_hash,
                "call_key": item.call_key, "created_at": now_iso()}

    def copy_known(self, pending: list[Item], committed: Callable[[list[dict]], None]) -> list[Item]:
        """Serve from the store, without decoding, the items whose file is unchanged since it was last hashed;
        returns the others. `committed` counts the copies done."""
        known = self.store.image_hashes({it.input.path for it in pending})
        stats: dict[str, tuple[int, int] | None] = {}
        for it in pending:
            path = it.input.path
            if path not in stats:
                stats[path] = file_stat(path)
            record = known.get(path)
            if record and stats[path] == record[:2]:
                it.set_image_hash(record[2])
        created_at, texts, run_id = now_iso(), {}, self.run_id
        written = self.store.copy_answers([  # tuples in COPY_ORDER: thousands of them on a re-run
            (run_id, it.input.path, it.image_hash, variables_text(it.input.variables, texts), it.input.label,
             it.spec.name, it.version, it.prompt_hash, it.params_hash, it.call_key, created_at)
            for it in pending if it.call_key])
        if not written:
            return pending
        committed([{"status": status, "cached": 1, "cost": cost, "call_key": key} for key, status, cost in written])
        served = {key for key, _, _ in written}
        return [it for it in pending if it.call_key not in served]


class Followers:
    """A lane's items whose identical call is already on its way: each waits for that call's answer and is copied
    from it; when the call failed (errors are never shared) it is sent on its own."""

    def __init__(self, answers: Answers, send: Callable[..., Awaitable[None]]) -> None:
        self.answers, self.send = answers, send
        self.tasks: list[asyncio.Task] = []

    def add(self, item: Item, picture) -> None:
        leader = self.answers.inflight[item.call_key]
        self.tasks.append(asyncio.create_task(self._follow(item, picture, leader)))

    async def _follow(self, item: Item, picture, leader: asyncio.Future) -> None:
        row = await asyncio.shield(leader)
        if row is not None:
            self.answers.copy_row(item, row)
        elif item.call_key in self.answers.inflight:  # the leader failed and another copy went out meanwhile
            self.add(item, picture)
        else:
            await self.send(item, picture)

    async def drain(self) -> None:
        """Wait for every follower; one whose leader failed sends its own call."""
        while self.tasks:
            await self.tasks.pop()


def _copied(stored: dict, item: Item, run_id: str) -> dict:
    """A stored answer re-filed under this run's item: same answer, cost and latency, marked as cached."""
    row = {**_decoded(stored)}
    row.pop("id", None)
    row.update(run_id=run_id, image_path=item.input.path, variables=item.input.variables,
               expected=item.input.label, model=item.spec.name, prompt_version=item.version,
               prompt_hash=item.prompt_hash, params_hash=item.params_hash, call_key=item.call_key,
               image_hash=item.image_hash, cached=1, attempts=0, created_at=now_iso())
    return row


def _decoded(row: dict) -> dict:
    from ..store import JSON_COLUMNS

    return {k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v) for k, v in row.items()}
