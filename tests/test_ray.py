"""The Ray engine on a real Ray: one local node shared by the module (starting Ray costs 10–20 s here), and a
two-node `ray.cluster_utils.Cluster` on this machine at the end. Calls go to the scripted fault server and are
counted there: faults end with every item stored once, a finished run re-run sends nothing, the limit per server
holds across workers, a killed worker or driver loses nothing, and a tiny local model answers as it does in
`run_batch` without Ray."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from workbench.batch import run_batch
from workbench.batch.on_ray import BLOCKS_PER_ACTOR, ITEMS_PER_BLOCK, connect
from workbench.cli import main as cli
from workbench.errors import ConfigError
from workbench.models import ModelSpec

from .fault_server import FaultServer
from .test_faults import FAULTS, noise_images

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_node():
    ray, started, _ = connect(None)  # loopback only, the workbench shipped to the workers
    assert started
    yield ray
    ray.shutdown()


def spec(server, model="ok", **kw) -> ModelSpec:
    kw.setdefault("timeout", 5)
    return ModelSpec(name=f"fault {model}", provider="custom", base_url=server.url, model=model, **kw)


def stored(db: Path) -> list[tuple]:
    """The rows committed so far (none while the store is still being made)."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT image_path, model, status FROM results").fetchall()
    except sqlite3.OperationalError:  # no table yet
        return []


def lane_worker_pids() -> list[int]:
    """Ray names an actor's process after its class: the Ray Data actors running LaneWorker."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"LaneWorker" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


# --- refused before anything starts ------------------------------------------------------------------------


def test_without_ray_installed_the_error_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as where it is missing
    with pytest.raises(ConfigError, match=r'Ray Data, which is not installed.*pip install "ray\[data\]>=2.60"'):
        run_batch(noise_images(tmp_path / "imgs", 2), "ask", [ModelSpec(name="m", provider="custom",
                  base_url="http://127.0.0.1:9/v1", model="ok")], db=tmp_path / "wb.db", engine="ray")
    assert not (tmp_path / "wb.db").exists() or not stored(tmp_path / "wb.db")


def test_an_address_where_nothing_answers_is_refused_at_once(tmp_path, capsys):
    started = time.perf_counter()
    code = cli(["batch", "--path", str(noise_images(tmp_path / "imgs", 2)), "--task", "ask", "--model", "ok",
                "--api-base", "http://127.0.0.1:9/v1", "--engine", "ray", "--ray-address", "127.0.0.1:1",
                "--db", str(tmp_path / "wb.db"), "--no-progress"])
    assert code == 2 and time.perf_counter() - started < 30
    err = capsys.readouterr().err
    assert "no Ray cluster answers at '127.0.0.1:1'" in err and "ray start --head" in err


def test_settings_that_cannot_go_through_ray_are_refused(tmp_path):
    images = noise_images(tmp_path / "imgs", 2)
    model = ModelSpec(name="m", provider="custom", base_url="http://127.0.0.1:9/v1", model="ok")
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        run_batch(images, "ask", [model], db=tmp_path / "wb.db", engine="spark")
    with pytest.raises(ConfigError, match="is for engine='ray'"):
        run_batch(images, "ask", [model], db=tmp_path / "wb.db", ray_address="auto")


def test_vllm_through_ray_data_llm_is_configured_and_refused_clearly_without_vllm(tmp_path, sample_image):
    from workbench.batch.on_ray.vllm import messages, vllm_config, vllm_processor

    model = ModelSpec(name="Qwen2.5-VL 7B (vLLM)", backend="transformers", model="Qwen/Qwen2.5-VL-7B-Instruct")
    config = vllm_config(model, engines=2, batch_size=16, gpus_per_engine=2)
    assert type(config).__name__ == "vLLMEngineProcessorConfig" and config.model_source == model.model
    assert (config.concurrency, config.batch_size) == (2, 16)
    assert config.engine_kwargs["tensor_parallel_size"] == 2 and config.engine_kwargs["limit_mm_per_prompt"]
    assert config.should_continue_on_error  # a failed row comes back as a row, never a failed run
    sample_image.save(tmp_path / "road.png")
    chat = messages("How bad is it?", str(tmp_path / "road.png"))
    assert chat[0]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    with pytest.raises(ConfigError, match="needs vLLM, which is not installed here — pip install vllm"):
        vllm_processor(model, "pothole_severity")


def test_the_shared_limits_pause_every_worker_for_retry_after_and_take_back_a_dead_workers_slots():
    """The body of the shared-limits actor, on an event loop of its own (Ray only carries the calls to it)."""
    import asyncio

    from workbench.batch.on_ray.limits import SharedLimits

    async def scenario() -> tuple[float, float, int]:
        limits = SharedLimits()
        await limits.configure("run", 2, 3, "run", 0.3)
        lane = "run|openai http://127.0.0.1:9/v1"
        first, began, _ = await limits.acquire(lane)  # worker A
        await limits.rate_limited(lane, 0.5, began)  # A's call got a 429 saying retry-after: 0.5
        await limits.release(first)
        waited = time.monotonic()
        second, _, _ = await limits.acquire(lane)  # worker B, elsewhere in the cluster, waits out the pause
        waited = time.monotonic() - waited
        halved = limits.lanes[lane][0].limit
        # B dies holding its slot (never released): the lease lapses, and the slot comes back
        lapsed = time.monotonic()
        third, _, _ = await asyncio.wait_for(limits.acquire(lane), 5)
        await asyncio.wait_for(limits.acquire(lane), 5)  # limit 1 after the cut: only B's lapsed lease frees it
        return waited, time.monotonic() - lapsed, halved

    waited, lapsed, halved = asyncio.run(scenario())
    assert waited >= 0.45 and halved == 1
    assert lapsed >= 0.25


# --- one local node ----------------------------------------------------------------------------------------


def test_a_fault_mix_ends_with_every_item_stored_once_and_a_rerun_sends_nothing(ray_node, tmp_path, capsys):
    n = 48
    images = noise_images(tmp_path / "imgs", n)
    db = tmp_path / "wb.db"
    with FaultServer(fault_once=FAULTS, fault_share=0.5) as server:
        args = ["batch", "--path", str(images), "--task", "ask", "--model", "ok", "--api-base", server.url,
                "--timeout", "5", "--engine", "ray", "--db", str(db), "--no-progress", "--json"]
        assert cli(args) == 0
        summary = json.loads(capsys.readouterr().out)
        assert (summary["total"], summary["answered"], summary["failed"]) == (n, n, 0)
        assert sum(server.faulted.values()) >= n // 4  # the faults did happen, and were retried
        assert server.duplicates == 0
        rows = stored(db)
        assert len(rows) == n and len({r[0] for r in rows}) == n and {r[2] for r in rows} == {"ok"}
        calls = sum(server.calls.values())
        assert summary["calls"] == calls  # the workers' calls, retries included, reach the driver's count

        assert cli(args) == 0  # the same batch again: served from the store, Ray not even started
        again = json.loads(capsys.readouterr().out)
        assert again["calls"] == 0 and sum(server.calls.values()) == calls and len(stored(db)) == n


def test_rejected_keys_stop_the_server_everywhere_with_one_message(ray_node, tmp_path):
    n = 40
    with FaultServer() as server:
        run = run_batch(noise_images(tmp_path / "imgs", n), "ask", [spec(server, "401")], db=tmp_path / "wb.db",
                        engine="ray", workers=4, max_auth_failures=3, progress=False)
        assert (run.answered, run.failed) == (0, n)
        # the calls in flight when the first 401 came back, then one at a time until the third: not 40
        assert server.calls_for("401") <= 3 + 4
        stops = [m for m in run.messages if "consecutive authentication failures" in m]
        assert len(stops) == 1 and "workbench retry" in stops[0]


def test_a_worker_killed_mid_run_loses_nothing(ray_node, tmp_path):
    n = 96
    images = noise_images(tmp_path / "imgs", n)
    db = tmp_path / "wb.db"
    with FaultServer(latency_s=0.25) as server:
        done: dict = {}
        thread = threading.Thread(target=lambda: done.update(run=run_batch(
            images, "ask", [spec(server, timeout=3)], db=db, engine="ray", workers=8, progress=False)))
        thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(stored(db)) < ITEMS_PER_BLOCK:
            time.sleep(0.2)
        victims = lane_worker_pids()
        assert victims and len(stored(db)) < n  # mid-run: a worker is there to kill, items still to send
        os.kill(victims[0], signal.SIGKILL)
        thread.join(timeout=180)
        run = done["run"]
        assert (run.answered, run.failed) == (n, 0)
        rows = stored(db)
        assert len(rows) == n and len({r[0] for r in rows}) == n
        # what the killed actor had in flight may be asked again, nothing more
        assert server.duplicates <= BLOCKS_PER_ACTOR * ITEMS_PER_BLOCK


DRIVER = """
import sys
sys.path.insert(0, {root!r})
from workbench.batch import run_batch
from workbench.models import ModelSpec
model = ModelSpec(name="fault ok", provider="custom", base_url={url!r}, model="ok", timeout=5)
run_batch({images!r}, "ask", [model], db={db!r}, engine="ray", ray_address={address!r}, workers=4, progress=False)
"""


def test_a_driver_killed_and_restarted_resumes_without_resending_stored_items(ray_node, tmp_path):
    n = 64
    images = noise_images(tmp_path / "imgs", n)
    db = tmp_path / "wb.db"
    address = ray_node.get_runtime_context().gcs_address
    with FaultServer(latency_s=0.2) as server:
        server.images.update({p.name: p for p in images.iterdir()})
        script = DRIVER.format(root=str(ROOT), url=server.url, images=str(images), db=str(db), address=address)
        driver = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and len(stored(db)) < ITEMS_PER_BLOCK:
            time.sleep(0.2)
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        before = {Path(r[0]).name for r in stored(db)}
        assert ITEMS_PER_BLOCK <= len(before) < n
        while lane_worker_pids() and time.monotonic() < deadline:  # Ray ends the dead driver's actors
            time.sleep(0.2)
        time.sleep(0.5)
        server.reset()

        run = run_batch(images, "ask", [spec(server)], db=db, engine="ray", workers=4, progress=False)
        assert run.resumed and (run.answered, run.failed) == (n, 0)
        assert len(stored(db)) == n
        assert not before & {name for (_, name), count in server.seen_images.items() if count}
        assert run.calls == n - len(before)


def test_a_tiny_local_model_answers_through_ray_actors_as_it_does_without(ray_node, tmp_path, tiny_llava_dir):
    images = noise_images(tmp_path / "imgs", 4)
    model = ModelSpec(name="tiny llava", backend="transformers", model=tiny_llava_dir, device="cpu")
    kw = {"max_tokens": 8, "batch_size": 2, "progress": False}
    here = run_batch(images, "ask", [model], db=tmp_path / "here.db", **kw).results()
    with FaultServer() as server:  # an HTTP model beside it: its items go first, the local model's after
        run = run_batch(images, "ask", [model, spec(server)], db=tmp_path / "ray.db", engine="ray", **kw)
    assert (run.total, run.answered, run.failed) == (8, 8, 0)
    there = run.results()
    there = there[there["model"] == model.name]
    assert len(here) == len(there) == 4 and set(there["status"]) != {"error"}
    answers = dict(zip(here["image_path"], here["raw_text"]))
    assert dict(zip(there["image_path"], there["raw_text"])) == answers


# --- two nodes ---------------------------------------------------------------------------------------------


def two_nodes(cluster_class, tries: int = 2):
    """A head and one more node, one CPU each. Ray gives a node 30 s to register, which this busy 2-core machine
    sometimes misses: tried again once, as `connect` does for a local start."""
    for attempt in range(1, tries + 1):
        cluster = None
        try:
            cluster = cluster_class(initialize_head=True, head_node_args={"num_cpus": 1})
            cluster.add_node(num_cpus=1)
            return cluster
        except Exception as e:
            if cluster is not None:
                cluster.shutdown()
            if "timed out during startup" not in str(e) or attempt == tries:
                raise


def test_two_nodes_share_the_run_and_one_limit_per_server_under_429s(ray_node, tmp_path):
    from ray.cluster_utils import Cluster

    ray_node.shutdown()  # the module's node makes way for a two-node cluster: this test runs last
    cluster = two_nodes(Cluster)
    try:
        connect(cluster.address)
        assert len([node for node in ray_node.nodes() if node["Alive"]]) == 2
        n = 64
        with FaultServer(latency_s=0.05, fault_once=("429",), fault_share=0.3) as server:
            run = run_batch(noise_images(tmp_path / "imgs", n), "ask", [spec(server)], db=tmp_path / "wb.db",
                            engine="ray", ray_actors=3, workers=3, progress=False)
            assert (run.answered, run.failed) == (n, 0)
            assert server.faulted["429"] >= 10 and server.duplicates == 0
            # three actors on two nodes, each able to keep 32 calls in flight, yet never over 3 at the server
            assert server.most_in_flight <= 3
    finally:
        ray_node.shutdown()
        cluster.shutdown()
