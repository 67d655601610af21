"""The Label tab in a real browser: five images labelled by keyboard, the metrics change, the exported labels CSV
evaluates the run the same way the stored labels do."""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

import httpx
import pytest

from workbench.evaluate import evaluate_run
from workbench.store import RunStore, now_iso

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "_artifacts"
IMAGES = ["road_pothole_severe.jpg", "road_pothole_moderate.jpg", "road_pothole_minor.jpg", "road_clear.jpg",
          "park_scene.jpg", "beach_sunset.jpg"]
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _row(run_id, image, model, label, top):
    others = {k: (1 - top) / 3 for k in ("no_pothole", "minor", "moderate", "severe") if k != label}
    return {"run_id": run_id, "image_path": str(ROOT / "sample_images" / image), "image_hash": f"h-{image}",
            "variables": {}, "expected": None, "model": model, "model_id": model, "backend": "openai",
            "prompt_version": "default", "prompt_hash": "p", "params_hash": "q", "call_key": f"k-{image}-{model}",
            "mode": "score", "status": "ok", "label": label, "output": {"severity": label}, "raw_text": "{}",
            "probabilities": {label: top, **others}, "latency_s": 0.1, "cached": 0, "attempts": 1,
            "created_at": now_iso()}


@pytest.fixture(scope="module")
def label_app(tmp_path_factory):
    """The real app (build_demo) on loopback, over a store holding one pothole run of two models."""
    db = tmp_path_factory.mktemp("label") / "wb.db"
    store = RunStore(db)
    run = store.create_run(task="pothole_severity", models=[{"name": "alpha"}, {"name": "beta"}],
                           prompts={"default": "?"}, params={}, source="test", fingerprint="f", n_items=12)
    answers = {"alpha": ["severe", "moderate", "minor", "no_pothole", "no_pothole", "no_pothole"],
               "beta": ["severe", "minor", "minor", "minor", "no_pothole", "no_pothole"]}
    store.write([_row(run, image, model, answers[model][i], 0.4 + 0.1 * i)
                 for model in answers for i, image in enumerate(IMAGES)])
    store.finish_run(run)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("WORKBENCH_DB", str(db))
    from app import build_demo

    demo = build_demo(catalog=[])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield {"url": f"http://127.0.0.1:{port}/", "db": db, "run": run}
    demo.close()
    monkeypatch.undo()


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install -y chromium")
    return path


def _recommendation_in_the_batch_tab(page) -> None:
    """The labels just set are enough for the Batch tab's Recommendation section to pick and plot."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("tab", name="Batch & evaluate").click()
    page.get_by_text("Recommendation").click()
    page.get_by_role("button", name="Refresh runs").click()
    page.wait_for_function("document.querySelector('#batch-recommendation input')?.value.includes('pothole')",
                           timeout=60_000)
    page.get_by_role("button", name="Recommend", exact=True).click()
    pick = page.locator("#batch-recommendation-pick")
    pick.get_by_text("Pick").or_(pick.get_by_text("No configuration")).first.wait_for(timeout=60_000)
    page.locator("#batch-recommendation img, #batch-recommendation svg.main-svg, #batch-recommendation canvas"
                 ).first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "recommend_1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "recommend_390.png"), full_page=True)


def test_five_images_labelled_by_keyboard_change_the_metrics_and_export_round_trips(label_app, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(label_app["url"])
        page.get_by_role("tab", name="Label").click()
        page.wait_for_function("document.querySelector('#label-run input')?.value.includes('pothole_severity')",
                               timeout=60_000)
        page.locator("#label-open").click()
        caption = page.locator("#label-caption")
        caption.get_by_text("Image 1 of 6").wait_for(timeout=60_000)
        before = page.locator("#label-metrics").inner_text()
        assert "accuracy" not in before  # no labels yet: no quality metrics
        assert "models disagree" in caption.inner_text()  # disagreements come first
        page.locator("body").click(position={"x": 5, "y": 5})  # the keys go to the page, not a box
        for n, key in enumerate(["4", "2", "1", "1", "1"], start=1):
            page.keyboard.press(key)
            caption.get_by_text(f"{n} labelled").wait_for(timeout=60_000)
        page.locator("#label-metrics").get_by_text("accuracy").wait_for(timeout=60_000)
        after = page.locator("#label-metrics").inner_text()
        assert after != before
        page.screenshot(path=str(ARTIFACTS / "label_1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 900})
        page.screenshot(path=str(ARTIFACTS / "label_390.png"), full_page=True)
        page.get_by_role("button", name="Export labels CSV").click()
        link = page.locator("#label-download a[data-testid=download-link]")
        link.first.wait_for(timeout=60_000)
        exported = httpx.get(link.first.get_attribute("href"), timeout=30, follow_redirects=True)
        _recommendation_in_the_batch_tab(page)
        browser.close()

    store = RunStore(label_app["db"])
    who = store.conn.execute("SELECT who FROM labels").fetchall()
    assert len(who) == 5 and {r["who"] for r in who} == {"anonymous"}
    stored = evaluate_run(label_app["run"], db=label_app["db"]).classification.set_index("model")["accuracy"]
    csv = tmp_path / "labels.csv"
    csv.write_bytes(exported.content)
    assert csv.read_text().splitlines()[0] == "path,label,task" and len(csv.read_text().splitlines()) == 6
    store.conn.execute("DELETE FROM labels")  # only the exported CSV knows the truth now
    from_csv = evaluate_run(label_app["run"], labels=csv, db=label_app["db"]).classification.set_index("model")
    assert from_csv["accuracy"].to_dict() == pytest.approx(stored.to_dict())
