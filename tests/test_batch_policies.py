"""The batch's policies on their own: retries and backoff, rate-limit pauses, the auth breaker, the lane's
limiter, how many decoder threads a lane uses, when two calls are the same, and single flight."""
from __future__ import annotations

import asyncio

import pytest

from workbench.backends import Reply
from workbench.batch import BatchInput
from workbench.batch.cache import FOLLOW, SEND, SERVED, Answers, Followers
from workbench.batch.context import Options, RunContext
from workbench.batch.items import expand, model_key_of
from workbench.batch.limiter import Limiter
from workbench.batch.progress import Progress
from workbench.batch.reader import chunk_size, readers_needed
from workbench.batch.retry import MAX_PAUSE_S, AuthBreaker, RetryPolicy, backoff, rate_limit_pause
from workbench.batch.writer import Writer
from workbench.errors import (AuthError, BadRequestError, ConnectionFailedError, DeadlineError, RateLimitError,
                              ServerError)
from workbench.lifecycle import failure, settle
from workbench.models import ModelSpec
from workbench.store import RunStore
from workbench.tasks import get_task

PARAMS = {"max_tokens": 64, "temperature": 0.0, "max_edge": None, "detail": None, "mode": "generate"}


def spec(name: str = "m", **kw) -> ModelSpec:
    return ModelSpec(name=name, provider="custom", base_url="http://127.0.0.1:9/v1", model="tiny", **kw)


# --- retries ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [ServerError("502"), ConnectionFailedError("reset"), RateLimitError("429")])
def test_retryable_failures_are_tried_again_until_attempts_run_out(error):
    policy = RetryPolicy(max_attempts=3)
    assert policy.pause(error, 1) is not None and policy.pause(error, 2) is not None
    assert policy.pause(error, 3) is None


@pytest.mark.parametrize("error", [AuthError("401"), BadRequestError("400"), DeadlineError("slow"),
                                   ValueError("a bug of ours")])
def test_failures_a_retry_cannot_fix_are_settled_at_once(error):
    assert RetryPolicy(max_attempts=5).pause(error, 1) is None


def test_a_429_does_not_back_off_again_the_limiter_already_paused_the_lane():
    assert RetryPolicy(max_attempts=5).pause(RateLimitError("429"), 1) == 0.0
    assert RetryPolicy(max_attempts=5).pause(ServerError("500"), 1) > 0


def test_backoff_doubles_with_jitter_and_stops_growing_at_ten_seconds():
    for attempt, nominal in [(1, 0.05), (2, 0.1), (5, 0.8), (30, 10.0)]:
        pauses = [backoff(attempt) for _ in range(50)]
        assert all(0.8 * nominal - 1e-9 <= p <= 1.2 * nominal + 1e-9 for p in pauses)
    assert len({backoff(3) for _ in range(20)}) > 1  # jittered: workers hit together do not return together


def test_rate_limit_pause_honours_retry_after_within_bounds():
    assert rate_limit_pause(2.5, streak=1) == 2.5
    assert rate_limit_pause(None, streak=1) == pytest.approx(0.05)
    assert rate_limit_pause(None, streak=4) == pytest.approx(0.4)  # 429s in a row wait longer
    assert rate_limit_pause(0.01, streak=4) == pytest.approx(0.4)  # a short retry-after is not enough then
    assert rate_limit_pause(86400.0, streak=1) == MAX_PAUSE_S  # a bogus retry-after does not stall the run


def test_auth_breaker_stops_after_consecutive_failures_only():
    breaker = AuthBreaker(limit=3, lane="api.example", run_id="run-1")
    assert breaker.failed(AuthError("401 bad key")) is None
    assert breaker.failed(AuthError("401 bad key")) is None
    breaker.succeeded()  # not consecutive: start counting again
    assert breaker.failed(AuthError("401")) is None and breaker.failed(AuthError("401")) is None
    assert breaker.stopped is None
    message = breaker.failed(AuthError("401 bad key"))
    assert message is not None and breaker.stopped == message
    assert "api.example" in message and "run-1" in message
    assert breaker.failed(AuthError("401")) is None  # said once
    assert breaker.stopped == message


# --- the lane's limiter ------------------------------------------------------------------------------------------


def test_after_an_auth_failure_the_lane_probes_one_call_at_a_time_until_a_success():
    limiter = Limiter(8)
    limiter.probe()
    assert limiter.limit == 1
    limiter.succeeded()
    assert limiter.limit == 8 and not limiter.probing


def test_after_a_cut_the_limit_grows_by_one_per_limit_successes():
    async def scenario():
        limiter = Limiter(8)
        limiter.rate_limited(None, await limiter.acquire())
        limiter.release()
        assert limiter.limit == 4
        for _ in range(3):
            limiter.succeeded()
        assert limiter.limit == 4
        limiter.succeeded()
        assert limiter.limit == 5

    asyncio.run(scenario())


# --- decoder threads --------------------------------------------------------------------------------------------


def test_decoder_threads_follow_how_long_reading_takes_against_calls():
    assert readers_needed(None, in_flight=64, call_s=0.05, decoders=4) == 1  # nothing measured yet
    assert readers_needed(0.0003, in_flight=64, call_s=0.05, decoders=4) == 1  # small images: one keeps up
    assert readers_needed(0.2, in_flight=8, call_s=0.5, decoders=4) == 4  # photos: every thread helps
    assert readers_needed(0.2, in_flight=8, call_s=0.5, decoders=2) == 2  # never more than allowed


def test_chunks_grow_for_small_images_and_stay_single_for_photos():
    assert chunk_size(None, doubled=4, largest=16) == 4  # nothing measured yet: keep doubling
    assert chunk_size(0.0003, doubled=32, largest=16) == 16  # small images: never past a quarter of the workers
    assert chunk_size(0.0003, doubled=8, largest=16) == 8  # ... growing one doubling at a time
    assert chunk_size(0.08, doubled=2, largest=16) == 1  # photos: one per chunk, so decoders share the work
    assert chunk_size(0.005, doubled=16, largest=16) == 4  # in between: about 20 ms of reading a chunk


# --- when two calls are the same ----------------------------------------------------------------------------------


def test_same_pixels_prompt_model_and_parameters_make_the_same_call():
    task = get_task("ask")
    versions = {"default": task.prompt}
    inputs = [BatchInput("/imgs/a.png"), BatchInput("/imgs/b.png")]
    a, b = expand(inputs, [spec()], versions, task, PARAMS)
    renamed, = expand(inputs[:1], [spec("renamed")], versions, task, PARAMS)
    colder, = expand(inputs[:1], [spec()], versions, task, {**PARAMS, "temperature": 0.7})
    for it in (a, b, renamed, colder):
        it.set_image_hash("same pixels")
    assert a.call_key == b.call_key == renamed.call_key  # the display name is not part of the call
    assert colder.call_key != a.call_key
    assert model_key_of(spec()) != model_key_of(spec(max_edge=512))


def test_reasoning_effort_is_part_of_the_call_only_when_set():
    plain = model_key_of(spec())
    assert model_key_of(spec(reasoning_effort="high")) not in (plain, model_key_of(spec(reasoning_effort="low")))
    assert "effort" not in plain  # keys of stores written before the setting existed stay the same


def test_items_are_image_major_so_one_read_serves_every_model_and_version():
    task = get_task("ask")
    items = expand([BatchInput("/a.png"), BatchInput("/b.png")], [spec("m1"), spec("m2")],
                   {"v1": "Describe.", "v2": "Describe briefly."}, task, PARAMS)
    assert [(it.input.path, it.version, it.spec.name) for it in items] == [
        ("/a.png", "v1", "m1"), ("/a.png", "v1", "m2"), ("/a.png", "v2", "m1"), ("/a.png", "v2", "m2"),
        ("/b.png", "v1", "m1"), ("/b.png", "v1", "m2"), ("/b.png", "v2", "m1"), ("/b.png", "v2", "m2")]


# --- single flight, with the real store and writer ---------------------------------------------------------------


def _shared_run(tmp_path, n: int):
    task = get_task("ask")
    store = RunStore(tmp_path / "wb.db")
    run_id = store.create_run(task="ask", models=[spec().model_dump(mode="json")], prompts={"default": task.prompt},
                              params=PARAMS, source="test", fingerprint="f", n_items=n)
    items = expand([BatchInput(str(tmp_path / f"img{i}.png")) for i in range(n)], [spec()],
                   {"default": task.prompt}, task, PARAMS)
    for it in items:
        it.set_image_hash("same pixels")  # duplicate images under other names
    progress = Progress(run_id, n, 0, False, None)

    def committed(rows):
        answers.committed(rows)
        progress.committed(rows)

    writer = Writer(store, committed)
    answers = Answers(store, run_id, writer, force=False)
    context = RunContext(store, run_id, task, PARAMS, Options(None, 1, 1, 1, 1, False), writer, answers, progress)
    return context, items


@pytest.mark.parametrize("leader_answers", [True, False])
def test_a_duplicate_call_waits_for_the_one_on_its_way(tmp_path, leader_answers):
    context, (leader, follower, later) = _shared_run(tmp_path, 3)
    answers, sent = context.answers, []

    async def send(item, picture):
        sent.append(item)

    async def scenario():
        assert answers.serve(leader, {}) == SEND
        answers.start(leader, asyncio.get_running_loop())
        assert answers.serve(follower, {}) == FOLLOW
        followers = Followers(answers, send)
        followers.add(follower, None)
        plan = context.plan(leader, "img0.png", "same pixels")
        outcome = Reply("a grey square") if leader_answers else failure(ServerError.kind, "502")
        answers.settle(leader, context.emit(leader, settle(plan, outcome), 1))
        await followers.drain()

    asyncio.run(scenario())
    context.writer.close()
    frame = context.store.results(context.run_id)
    if leader_answers:  # copied, not sent; and once committed, the store answers for the next duplicate
        assert sent == [] and frame["cached"].tolist() == [0, 1]
        assert frame["raw_text"].tolist() == ["a grey square"] * 2
        assert answers.serve(later, {}) == SERVED
    else:  # failures are never shared: the follower sends its own call
        assert sent == [follower] and frame["status"].tolist() == ["error"]
        assert answers.serve(later, {}) == SEND


# --- prices are looked up while the first images are read ----------------------------------------------------------


def test_each_models_price_is_looked_up_in_a_thread_before_the_first_answer():
    from workbench import lifecycle
    from workbench.batch.run import _look_up_prices_meanwhile

    priced = spec("priced", price={"input_per_m": 0.15, "output_per_m": 0.6})
    lifecycle._PRICES.clear()
    _look_up_prices_meanwhile([priced, spec("unpriced")]).join(timeout=30)
    assert len(lifecycle._PRICES) == 2  # both looked up once: the first answer finds them ready
    price = lifecycle.price_of(priced)
    assert (price.input_per_m, price.output_per_m) == (0.15, 0.6)
