"""Big images are prepared in worker processes (workbench/batch/photo_processes.py): the same bytes sent and the
same hashes as in-process, one item's failure for a corrupt photo, no pool at all for small images, and a run
that completes (without paying twice) when the workers cannot run."""
from __future__ import annotations

import concurrent.futures
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.backends.openai_compat import OpenAICompatible
from workbench.backends.registry import register_backend
from workbench.batch import photo_processes, reader, run_batch
from workbench.models import ModelSpec

from .fault_server import FaultServer, fault_server  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def workers_on_any_machine(monkeypatch):
    """By default workers are used only from PROCESS_MIN_CORES cores; these tests run them on any machine, at the
    default size."""
    monkeypatch.setenv("WORKBENCH_PROCESS_MIN_BYTES", str(photo_processes.PROCESS_MIN_BYTES))


def big_photos(folder: Path, n: int, size=(2400, 1800)) -> list[Path]:
    """Noisy JPEGs (a few MB each, like a phone's): above the size from which workers prepare them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    paths = []
    for i in range(n):
        path = folder / f"photo{i}.jpg"
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, quality=92)
        assert path.stat().st_size >= photo_processes.PROCESS_MIN_BYTES
        paths.append(path)
    return paths


def small_images(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (64, 48), (i * 9 % 256, 40, 99)).save(folder / f"small{i}.png")


class Pools:
    """Records the worker pools a run starts and the images handed to them (they are real pools: the work runs in
    them). A big image is read in-process while the pool's first worker starts; so that the next ones go to the
    workers whatever the machine's load, a big image read in-process waits here for that first worker."""

    def __init__(self) -> None:
        self.started, self.submitted, self.ready = 0, [], threading.Event()

    def install(self, monkeypatch) -> "Pools":
        pools = self

        class RecordingPool(ProcessPoolExecutor):
            def __init__(self, *args, **kwargs):
                pools.started += 1
                super().__init__(*args, **kwargs)

            def submit(self, fn, /, *args, **kwargs):
                future = super().submit(fn, *args, **kwargs)
                if fn is os.getpid:  # a worker's start
                    future.add_done_callback(lambda _: pools.ready.set())
                else:
                    pools.submitted.append(Path(args[0]).name)
                return future

        def read_when_a_worker_is_up(path, edges, prepare):
            if Path(path).stat().st_size >= photo_processes.PROCESS_MIN_BYTES:
                assert pools.ready.wait(120), "no worker process started in 120 s"
            return real_read(path, edges, prepare)

        real_read = reader._read_image
        monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", RecordingPool)  # imported when a pool starts
        monkeypatch.setattr(reader, "_read_image", read_when_a_worker_is_up)
        return self


def sent_images(server: FaultServer) -> list[str]:
    """The data URLs of the images the server received, sorted."""
    return sorted(part["image_url"]["url"] for body in server.requests for message in body["messages"]
                  if isinstance(message.get("content"), list)
                  for part in message["content"] if part.get("type") == "image_url")


def spec_for(server: FaultServer, backend: str = "openai") -> ModelSpec:
    return ModelSpec(name="fault ok", provider="custom", base_url=server.url, model="ok", timeout=20, backend=backend)


def test_big_images_go_through_worker_processes_with_the_same_bytes_and_hashes(tmp_path, fault_server,
                                                                               monkeypatch):
    photos = big_photos(tmp_path / "photos", 3)
    small_images(tmp_path / "photos", 2)  # in the same batch: these stay in the decoder threads
    monkeypatch.setenv("WORKBENCH_PROCESS_MIN_BYTES", "off")
    here = run_batch(tmp_path / "photos", "ask", [spec_for(fault_server)], db=tmp_path / "here.db", progress=False)
    sent_here = sent_images(fault_server)
    fault_server.reset()
    monkeypatch.setenv("WORKBENCH_PROCESS_MIN_BYTES", str(photo_processes.PROCESS_MIN_BYTES))
    pools = Pools().install(monkeypatch)
    there = run_batch(tmp_path / "photos", "ask", [spec_for(fault_server)], db=tmp_path / "there.db",
                      progress=False)
    assert pools.started == 1 and len(pools.submitted) >= 2  # the first is read here while the workers start
    assert set(pools.submitted) <= {p.name for p in photos}  # small images stay in the decoder threads
    assert here.answered == there.answered == 5
    assert sent_images(fault_server) == sent_here and len(sent_here) == 5  # byte for byte
    hashes = [run.results().sort_values("image_path")["image_hash"].tolist() for run in (here, there)]
    assert hashes[0] == hashes[1] and all(hashes[0])


def test_a_corrupt_big_photo_fails_only_its_own_item(tmp_path, fault_server, monkeypatch):
    photos = big_photos(tmp_path / "photos", 3)
    data = photos[1].read_bytes()
    photos[1].write_bytes(data[: len(data) // 2])  # opens, then fails while decoding: in the worker
    assert photos[1].stat().st_size >= photo_processes.PROCESS_MIN_BYTES
    pools = Pools().install(monkeypatch)
    run = run_batch(tmp_path / "photos", "ask", [spec_for(fault_server)], db=tmp_path / "wb.db", progress=False)
    assert photos[1].name in pools.submitted
    results = run.results().set_index("image_path")
    assert run.answered == 2 and run.failed == 1
    failed = results.loc[str(photos[1])]
    assert failed["error_type"] == "image_error" and "truncated or corrupt" in failed["error"]
    assert (results.drop(str(photos[1]))["status"] == "ok").all()


def test_small_images_never_start_a_worker_pool(tmp_path, fault_server, monkeypatch):
    small_images(tmp_path / "imgs", 12)
    pools = Pools().install(monkeypatch)
    run = run_batch(tmp_path / "imgs", "ask", [spec_for(fault_server)], db=tmp_path / "wb.db", progress=False)
    assert run.answered == 12 and pools.started == 0


@register_backend("openai-dies-in-workers")
class DiesInWorkers(OpenAICompatible):
    """An OpenAI-compatible backend whose image preparation kills any worker process it runs in."""

    def prepare_image(self, image, max_edge: int):
        if multiprocessing.parent_process() is not None:
            os._exit(3)
        return super().prepare_image(image, max_edge)


def test_when_the_workers_die_the_images_are_read_in_process_and_the_run_completes(tmp_path, fault_server,
                                                                                    monkeypatch):
    big_photos(tmp_path / "photos", 3)
    pools = Pools().install(monkeypatch)
    run = run_batch(tmp_path / "photos", "ask", [spec_for(fault_server, "openai-dies-in-workers")],
                    db=tmp_path / "wb.db", progress=False)
    assert run.answered == 3 and run.failed == 0
    assert sum(fault_server.calls.values()) == 3 and pools.submitted
    assert any("worker processes that prepare big images stopped" in m for m in run.messages)


def test_a_script_without_a_main_guard_is_not_run_again_by_the_workers(tmp_path, fault_server):
    # Each spawned worker imports the main script first. A script that starts its batch at the top level would
    # then start it again in every worker: the workers refuse (and die), the photos are read in the script's own
    # process, and every image is sent once.
    big_photos(tmp_path / "photos", 2)
    script = tmp_path / "no_guard.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from workbench.batch import run_batch
        from workbench.models import ModelSpec
        spec = ModelSpec(name="fault ok", provider="custom", base_url={fault_server.url!r}, model="ok", timeout=20)
        run = run_batch({str(tmp_path / "photos")!r}, "ask", [spec], db={str(tmp_path / "wb.db")!r}, progress=False)
        print(json.dumps({{"answered": run.answered, "messages": run.messages}}))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "WORKBENCH_PROCESS_MIN_BYTES": str(photo_processes.PROCESS_MIN_BYTES)})
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["answered"] == 2 and sum(fault_server.calls.values()) == 2
    assert "under `if __name__ == \"__main__\":`" in done.stderr


def test_the_default_uses_workers_only_from_enough_cores(monkeypatch):
    monkeypatch.delenv("WORKBENCH_PROCESS_MIN_BYTES")
    for cores, expected in ((2, None), (photo_processes.PROCESS_MIN_CORES, photo_processes.PROCESS_MIN_BYTES)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert photo_processes.process_min_bytes() == expected
    monkeypatch.setenv("WORKBENCH_PROCESS_MIN_BYTES", "off")
    assert photo_processes.process_min_bytes() is None


def test_a_bad_threshold_is_a_settings_error(tmp_path, monkeypatch):
    from workbench.errors import ConfigError

    small_images(tmp_path / "imgs", 1)
    monkeypatch.setenv("WORKBENCH_PROCESS_MIN_BYTES", "1MB")
    with pytest.raises(ConfigError, match="WORKBENCH_PROCESS_MIN_BYTES must be a whole number"):
        run_batch(tmp_path / "imgs", "ask", [ModelSpec(name="x", provider="custom", base_url="http://127.0.0.1:9/v1",
                                                       model="ok")], db=tmp_path / "wb.db", progress=False)


def test_after_warm_up_the_first_small_image_costs_what_the_others_do(tmp_path):
    """The reader sizes its decoder threads on the first chunk's time: one-off costs must not be in it."""
    png = tmp_path / "small.png"
    Image.new("RGB", (32, 32), "teal").save(png)
    code = textwrap.dedent(f"""
        import sys, time
        from workbench.backends.openai_compat import OpenAICompatible
        from workbench.image_prep import prepare_file, warm_up
        prepare = OpenAICompatible().prepare_image
        if sys.argv[1] == "warm":
            warm_up(prepare)
        started = time.thread_time()
        prepare_file({str(png)!r}, [1536], prepare)
        print(time.thread_time() - started)
    """)
    first = {way: float(subprocess.run([sys.executable, "-c", code, way], capture_output=True, text=True,
                                       check=True, cwd=Path(__file__).resolve().parents[1]).stdout)
             for way in ("cold", "warm")}
    assert first["warm"] < first["cold"] / 4  # measured: 0.5 ms against 35 ms
