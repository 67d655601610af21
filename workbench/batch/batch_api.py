"""A run through a provider's Batch API (OpenAI's Files + Batches endpoints): half the list price, answers within
24 h. The requests go up as one JSONL file, the batch is polled, and each output line is read exactly as a chat
completion from `achat` would be (`reply_of`) and settled into the same Result rows as any other run.

The batch's id is stored (`provider_batches`) before anything else can go wrong, so a run that is interrupted —
even killed — polls the same batch when it is started again, and never pays for it twice. Items the provider
failed or let expire are stored as failures (`batch_failed`, `batch_expired`); `retry_failed` re-sends those
through ordinary chat completions.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..backends import get_backend
from ..backends.openai_compat import chat_body, reply_of
from ..costs import batch_discount
from ..errors import BackendError, ConfigError, ImageError, WorkbenchError
from ..image_prep import file_stat
from ..images import load_image
from ..keys import resolve_key
from ..lifecycle import failure, settle
from ..models import ModelSpec
from ..providers import PROVIDERS
from .context import RunContext
from .items import Item

VIAS = ("chat", "batch_api")
DEFAULT_POLL_S = 30.0
OPENAI_BATCH_DISCOUNT = 0.5  # OpenAI's Batch API halves the price of every model it takes
FINAL = ("completed", "failed", "expired", "cancelled")
_ENDPOINT = "/v1/chat/completions"


def check_via(via: str, specs: list[ModelSpec], mode: str) -> None:
    """ConfigError, before the run exists, where a batch cannot go through the Batch API."""
    if via not in VIAS:
        raise ConfigError(f"unknown via {via!r} — use one of: {', '.join(VIAS)}")
    if via == "chat":
        return
    offering = ", ".join(name for name, p in PROVIDERS.items() if p.batch_api)
    for spec in specs:
        provider = PROVIDERS.get(spec.provider or "")
        if spec.backend != "openai" or provider is None or not provider.batch_api:
            raise ConfigError(f"{spec.name} (provider {spec.provider or spec.backend!r}) has no Batch API — "
                              f"via='batch_api' (--batch-api) works with providers: {offering}")
    if len(specs) != 1:
        raise ConfigError("a Batch API run sends one model (a provider batch holds one model's requests) — run "
                          "each model separately with via='batch_api' (--batch-api)")
    if mode != "generate":
        raise ConfigError("the Batch API answers in generate mode only — drop mode='score' (--mode score)")


def through_batch_api(poll_s: float = DEFAULT_POLL_S):
    """What `Execution` calls to send the pending items: this module instead of the lanes."""
    def send(context: RunContext, pending: list[Item]) -> None:
        ProviderBatch(context, pending[0].spec, poll_s).run(pending)
    return send


class ProviderBatch:
    """One run's batch at the provider: submit (once), poll, collect."""

    def __init__(self, context: RunContext, spec: ModelSpec, poll_s: float) -> None:
        self.context, self.spec, self.poll_s = context, spec, poll_s
        self.store, self.run_id = context.store, context.run_id
        self.backend = get_backend(spec.backend)
        self.discount = batch_discount(spec.model) or OPENAI_BATCH_DISCOUNT
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import openai

            key = resolve_key(self.spec.resolved_key_env, self.context.options.keys)
            self._client = openai.OpenAI(base_url=self.spec.resolved_base_url, api_key=key or "none",
                                         timeout=self.spec.timeout, max_retries=self.spec.max_retries)
        return self._client

    def run(self, pending: list[Item]) -> None:
        status = self.backend.availability(self.spec, self.context.options.keys)
        if not status.runnable:
            self.context.say(f"{self.spec.name}: {status.message or status.status} — its items are stored as "
                             "failures, not sent")
            for it in pending:
                self.context.emit_failure(it, status.status, status.message)
            return
        try:
            self._run(pending)
        except Exception as e:
            if isinstance(e, WorkbenchError) or not _is_sdk_error(e):
                raise
            raise WorkbenchError(f"the Batch API at {self.spec.resolved_base_url} failed ({type(e).__name__}: "
                                 f"{e}) — run the same batch again: it resumes the stored batch, never sends a "
                                 "second one") from None

    def _run(self, pending: list[Item]) -> None:
        record = self.store.provider_batch(self.run_id)
        if record is None or record["status"] == "collected":
            record = self._upload(pending)
            if record is None:
                return
        if record["batch_id"] is None:  # uploaded; the batch not yet created, or created just before a crash
            created = self._created_from(record["input_file_id"]) or self.client.batches.create(
                input_file_id=record["input_file_id"], endpoint=_ENDPOINT, completion_window="24h",
                metadata={"workbench_run": self.run_id})
            self.store.update_provider_batch(self.run_id, status=created.status, batch_id=created.id)
            record["batch_id"] = created.id
            self.context.say(f"run {self.run_id}: {len(record['requests'])} requests sent as batch {created.id} "
                             f"through the Batch API, priced at −{round((1 - self.discount) * 100)} % of the list "
                             "price; stopped, the same command polls this batch again")
        else:
            self.context.say(f"run {self.run_id}: polling the provider's batch {record['batch_id']} sent earlier")
        batch = self._poll(record["batch_id"])
        self._collect(batch, record["requests"], pending)
        self.store.update_provider_batch(self.run_id, status="collected")

    def _created_from(self, input_file_id: str):
        """A batch the provider already made from this upload (the process died before storing its id): it is
        polled rather than paid for a second time."""
        for batch in self.client.batches.list(limit=100):
            if batch.input_file_id == input_file_id:
                return batch
        return None

    def _upload(self, pending: list[Item]) -> dict | None:
        """The JSONL of requests, uploaded; stored before the batch is created. None: no image could be read."""
        lines, requests = self._requests(pending)
        if not lines:
            return None
        uploaded = self.client.files.create(file=("batch.jsonl", "\n".join(lines).encode(), "application/jsonl"),
                                            purpose="batch")
        self.store.save_provider_batch(self.run_id, model=self.spec.name, input_file_id=uploaded.id,
                                       requests=requests)
        self.context.progress.calls += len(lines)
        return self.store.provider_batch(self.run_id)

    def _requests(self, pending: list[Item]) -> tuple[list[str], dict]:
        """One JSONL line per item (the same body `achat` would POST) and custom_id → the item's key."""
        lines, requests, image = [], {}, None
        capabilities = self.backend.capabilities(self.spec)
        for n, it in enumerate(pending):
            try:
                if image is None or image[0] != it.input.path:  # items are image-major: one decode per image
                    image = (it.input.path, self._read(it.input.path))
            except ImageError as e:
                self.context.emit_failure(it, "image_error", str(e))
                continue
            loaded = image[1]
            it.set_image_hash(loaded.sha256)
            plan = self.context.plan(it, Path(it.input.path).name, loaded.sha256)
            body = chat_body(self.spec, plan.request([loaded], capabilities))
            custom_id = f"item-{n}"
            lines.append(json.dumps({"custom_id": custom_id, "method": "POST", "url": _ENDPOINT, "body": body}))
            requests[custom_id] = [*it.key, loaded.sha256]
        return lines, requests

    def _read(self, path: str):
        """The image, and its file's stat recorded with its hash, as the lanes do (a re-run can see it is unchanged)."""
        stat = file_stat(path)  # before reading: a file changed meanwhile is then read again next time
        loaded = load_image(path)
        if stat:
            self.context.writer.put_image((path, *stat, loaded.sha256))
        return loaded

    def _poll(self, batch_id: str):
        while True:
            batch = self.client.batches.retrieve(batch_id)
            self.store.update_provider_batch(self.run_id, status=batch.status)
            counts = batch.request_counts
            done = f", {counts.completed + counts.failed}/{counts.total} done there" if counts else ""
            self.context.progress.note(f"batch {batch_id}: {batch.status}{done}")
            if batch.status in FINAL:
                return batch
            time.sleep(self.poll_s)

    def _collect(self, batch, requests: dict, pending: list[Item]) -> None:
        lines = {}
        for file_id in (batch.output_file_id, batch.error_file_id):  # an expired batch may hold some answers too
            if file_id:
                for line in self.client.files.content(file_id).text.splitlines():
                    if line.strip():
                        entry = json.loads(line)
                        lines[entry.get("custom_id")] = entry
        by_key = {it.key: it for it in pending}
        for custom_id, (*key, image_hash) in requests.items():
            it = by_key.pop(tuple(key), None)
            if it is None:  # stored already (an earlier pass collected it)
                continue
            it.set_image_hash(image_hash)
            plan = self.context.plan(it, Path(it.input.path).name, image_hash)
            plan.batch_api = self.discount
            self.context.emit(it, settle(plan, self._outcome(lines.get(custom_id), batch)), 1)
        for it in by_key.values():  # pending, but in no request of the stored batch
            self.context.emit_failure(it, "batch_missing", f"not in the provider's batch {batch.id} — "
                                      f"`workbench retry {self.run_id}` sends it as an ordinary call")

    def _outcome(self, line: dict | None, batch):
        """The Reply (or typed failure) one output line stands for."""
        retry = f"`workbench retry {self.run_id}` (retry_failed) sends it as an ordinary call"
        if line is None:
            status = batch.status if batch.status != "completed" else "missing"
            return failure(f"batch_{status}", f"the provider's batch {batch.id} ended {batch.status} without an "
                                              f"answer for this item — {retry}")
        response = line.get("response") or {}
        body = response.get("body") or {}
        if line.get("error") or response.get("status_code") != 200:
            said = ((line.get("error") or body.get("error") or {}).get("message")
                    or f"status {response.get('status_code')}")
            return failure("batch_failed", f"the provider failed this request in batch {batch.id}: {said} — {retry}")
        try:
            return reply_of(self.spec, body, self.context.options.keys)
        except BackendError as e:
            return e


def _is_sdk_error(exc: Exception) -> bool:
    import openai

    return isinstance(exc, openai.OpenAIError)
