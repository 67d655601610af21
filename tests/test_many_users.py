"""20 users at once against one `python app.py`: each gradio_client Client is one session with its own image, key
and added model, pointed at the loopback fault server, which answers with the model id and a digest of the key
it received. Every user must get exactly their own answers, no response may hold anyone's key, a batch runs
beside the comparisons, and a full queue refuses with a message instead of dropping a request."""
from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.app_process import start_app, stop_app
from tests.fault_server import FaultServer, key_digest

ROOT = Path(__file__).resolve().parents[1]
USERS = 20
BATCH_USER = 0  # runs a batch while the other 19 compare
KEY_ENV = "WB_USER_KEY"  # one variable name for everyone: only the session tells their values apart
SLOW_START = {"timeout": 120}  # 20 clients fetch the API description at once; on 2 busy cores that takes a while

pytestmark = pytest.mark.slow


def _user_images(folder: Path) -> list[Path]:
    """A different picture per user: its own colour and stripe, so the fault server can tell them apart."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(USERS):
        img = Image.new("RGB", (96, 64), ((i * 53) % 256, (i * 97 + 40) % 256, (i * 31 + 90) % 256))
        ImageDraw.Draw(img).rectangle((i * 4, 0, i * 4 + 8, 63), fill=(255 - i * 12, i * 12, 128))
        path = folder / f"user-{i:02d}.png"
        img.save(path)
        paths.append(path)
    return paths


def _key(i: int) -> str:
    return f"user-{i:02d}-key-{i * 7919:08d}"


def _setup_session(url: str, i: int, base_url: str):
    """One user's session: their key in the Keys box, their model added; returns (client, model name)."""
    from gradio_client import Client

    client = Client(url, verbose=False, httpx_kwargs=SLOW_START)
    client.predict(KEY_ENV, _key(i), api_name="/set_key")
    *boxes, name = client.predict(f"user {i:02d} model", base_url, f"whoami-user-{i:02d}", KEY_ENV,
                                  api_name="/add_model")
    listed = {value for box in boxes for _label, value in box["choices"]}
    assert listed == {"shared proxy", name}, listed  # this session's Models boxes: the file's model and its own
    return client, name


def _compare(client, image: Path, model: str):
    from gradio_client import handle_file

    return client.predict(handle_file(str(image)), "ask", "What is in this picture?", "", [model], 64, 512, "auto",
                          "generate", api_name="/compare")


def _batch(client, images: list[Path], model: str):
    from gradio_client import handle_file

    return client.predict([handle_file(str(p)) for p in images], None, "ask", "", "What is in this picture?", "",
                          [model], "generate", 2, api_name="/batch")


def _user(url: str, i: int, base_url: str, images: list[Path], outcome: dict) -> None:
    """Set up the session, then compare (or, for the batch user, run a batch of their own images)."""
    client, model = _setup_session(url, i, base_url)
    if i == 1:  # bad input to the session endpoints: a message that names the missing argument
        with pytest.raises(Exception, match="env_var"):
            client.predict("", "some-key", api_name="/set_key")
        with pytest.raises(Exception, match="base URL"):
            client.predict("no url", "", "some-model", "", api_name="/add_model")
    if i == BATCH_USER:
        summary, metrics, _plot, _compliance, _changes, export = _batch(client, images[:3], model)
        outcome[i] = {"text": f"{summary}\n{metrics}\n{Path(export).read_text()}", "model": model}
    else:
        html, table = _compare(client, images[i], model)
        outcome[i] = {"text": f"{html}\n{table}", "model": model, "table": table}


@pytest.fixture(scope="module")
def whoami_server():
    with FaultServer(latency_s=0.2) as server:  # a little latency so the users really overlap
        yield server


def test_twenty_users_each_get_their_own_results(tmp_path, whoami_server):
    faults = whoami_server
    images = _user_images(tmp_path / "images")
    for i, path in enumerate(images):
        faults.images[f"user-{i:02d}"] = path
        faults.served.add(f"whoami-user-{i:02d}")  # the app checks an added model against GET /v1/models
    proc, url, log_path = start_app(tmp_path / "app", f"""
[[models]]
name = "shared proxy"
provider = "custom"
base_url = "{faults.url}"
model = "ok"
key_env = "{KEY_ENV}"
""")
    outcome: dict[int, dict] = {}
    errors: dict[int, str] = {}
    batch_images = [images[BATCH_USER], images[1], images[2]]

    def run(i: int) -> None:
        try:
            _user(url, i, faults.url, batch_images if i == BATCH_USER else images, outcome)
        except BaseException:  # noqa: BLE001 — every user's failure is reported below, in full
            errors[i] = traceback.format_exc()

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(USERS) as pool:
            list(pool.map(run, range(USERS)))
        wall = time.monotonic() - started
    finally:
        stop_app(proc)
    assert not errors, "\n".join(errors.values())[:6000]
    assert sorted(outcome) == list(range(USERS))

    cross_talk = []
    for i, got in outcome.items():
        assert got["model"] == f"user {i:02d} model"
        assert f"model=whoami-user-{i:02d} key={key_digest(_key(i))}" in got["text"], (i, got["text"][:2000])
        for j in range(USERS):
            if _key(j) in got["text"] or (j != i and (f"whoami-user-{j:02d}" in got["text"]
                                                      or key_digest(_key(j)) in got["text"])):
                cross_talk.append((i, j))
    assert cross_talk == []  # no one's key anywhere; no other user's model or key digest in anyone's results
    for i in range(USERS):  # each user's model was called only with that user's picture (the batch: its three)
        seen = {name for (model, name) in faults.seen_images if model == f"whoami-user-{i:02d}"}
        assert seen == ({f"user-{n:02d}" for n in (BATCH_USER, 1, 2)} if i == BATCH_USER else {f"user-{i:02d}"})
    log = log_path.read_text(errors="replace")
    assert not any(_key(j) in log for j in range(USERS))
    requests = sum(faults.calls_for(f"whoami-user-{i:02d}") for i in range(USERS))
    print(f"\n20 users: {USERS - 1} comparisons + 1 batch of 3 images, {requests} model requests, "
          f"{len(outcome)} users answered, cross-talk {len(cross_talk)}, {wall:.1f} s")


def test_a_full_queue_refuses_with_a_message(tmp_path):
    """With WORKBENCH_QUEUE_SIZE=1 and 8 slow comparisons sent at once, up to 4 run (the models' concurrency
    limit), 1 waits, the rest are refused with "Queue is full": each request either completes or says why not."""
    from gradio_client import Client, handle_file
    from gradio_client.utils import QueueError

    with FaultServer(slow_s=4.0) as faults:
        proc, url, _log = start_app(tmp_path / "app", f"""
[[models]]
name = "slow proxy"
provider = "custom"
base_url = "{faults.url}"
model = "slow"
max_retries = 0
timeout = 30
""", env={"WORKBENCH_QUEUE_SIZE": "1"})
        image = ROOT / "sample_images" / "park_scene.jpg"
        clients = [Client(url, verbose=False, httpx_kwargs=SLOW_START) for _ in range(8)]
        completed, refused, other = [], [], []
        lock = threading.Lock()

        def one(client) -> None:
            try:
                html, _table = client.predict(handle_file(str(image)), "ask", "What is this?", "", ["slow proxy"],
                                              16, 512, "auto", "generate", api_name="/compare")
                outcome, target = html, completed
            except QueueError as e:
                outcome, target = str(e), refused
            except Exception as e:  # noqa: BLE001 — anything else is a failure, listed in the assert
                outcome, target = repr(e), other
            with lock:
                target.append(outcome)

        try:
            with ThreadPoolExecutor(len(clients)) as pool:
                list(pool.map(one, clients))
        finally:
            stop_app(proc)
    assert other == []
    assert len(completed) + len(refused) == len(clients)  # nothing dropped silently
    assert refused and all("Queue is full" in message for message in refused)
    assert completed and all('class="wb-card"' in html for html in completed)
    print(f"\nfull queue: {len(clients)} requests, {len(completed)} completed, {len(refused)} refused with "
          f"'{refused[0]}'")
