"""A newcomer's first ten minutes, in a real browser on a fresh app: History lists a run made before the app
started and opens it with a click; Compare runs a model and shows a readable table; the Batch tab's sample-images
button gives key metrics and both plots. Screenshots at 1280 and 390 px go to tests/_artifacts/."""
from __future__ import annotations

import re

import pytest

from tests.app_process import road_grader, start_app, stop_app
from tests.test_app import ARTIFACTS, ROOT, _chromium

SAMPLES = ROOT / "sample_images"
ROADS = {"road_pothole_severe.jpg": "severe", "road_pothole_moderate.jpg": "moderate",
         "road_pothole_minor.jpg": "minor", "road_clear.jpg": "moderate"}  # one wrong of four
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
UNREADABLE = ("[object Object]", "NaN", "/tmp/", "gradio-tmp")


@pytest.fixture(scope="module")
def tour_app(tmp_path_factory):
    """The app on loopback with one OpenAI-compatible model (the fault server, which reports a cost) and a run
    store that already holds a run made from Python."""
    work = tmp_path_factory.mktemp("tour")
    faults, models, db, earlier = road_grader(work, ROADS, ["road_clear.jpg"])
    proc, url, _ = start_app(work, env={"WORKBENCH_MODELS": str(models), "WORKBENCH_DB": str(db)})
    yield {"url": url, "earlier": earlier.run_id, "faults": faults}
    stop_app(proc)
    faults.stop()


def _shots(page, name: str, root: str) -> str:
    """Screenshots at 1280 and 390 px; the page never scrolls sideways and reads nothing unreadable."""
    page.screenshot(path=str(ARTIFACTS / f"{name}_1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / f"{name}_390.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
    text = page.locator(root).inner_text()
    page.set_viewport_size({"width": 1280, "height": 900})
    for bad in UNREADABLE:
        assert bad not in text, f"{name} shows {bad!r}"
    return text


def test_a_fresh_app_tour(tour_app):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(tour_app["url"])

        page.get_by_role("tab", name="History").click()  # the run made before the app started is listed…
        runs = page.locator("#history-runs")
        expect(runs).to_contain_text(tour_app["earlier"], timeout=20_000)
        runs.get_by_text(tour_app["earlier"], exact=True).filter(visible=True).first.click()  # …and opens
        expect(page.locator("#history-results")).to_contain_text("road_clear.jpg", timeout=20_000)
        _shots(page, "history", "body")

        page.get_by_role("tab", name="Compare").click()
        page.locator("#compare-tab input[type=file]").first.set_input_files(str(SAMPLES / "road_pothole_severe.jpg"))
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.locator("#compare-results")).to_contain_text("road grader", timeout=60_000)
        expect(page.locator("#compare-results")).to_contain_text("severe")
        _shots(page, "compare", "#compare-tab")

        page.get_by_role("tab", name="Batch & evaluate").click()
        page.get_by_role("button", name="Try the sample images and their labels").click()
        expect(page.locator("#batch-summary")).to_contain_text("Done.", timeout=120_000)
        key = page.locator("#batch-key-metrics")
        expect(key).to_contain_text("accuracy", timeout=30_000)
        expect(key).to_contain_text("0.75")
        for plot in ("#batch-confusion", "#batch-cost-plot", "#batch-latency-plot"):
            expect(page.locator(plot).locator("img").first).to_be_visible(timeout=30_000)  # the drawn figure
        summary = _shots(page, "batch", "body")
        page.locator("#batch-share").click()  # the finished run, as a link (test_share_links.py opens such links)
        expect(page.locator("#batch-share-link input")).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/\?share="),
                                                                    timeout=20_000)
        browser.close()
    assert "4 items" in summary
    assert max(_sizes(tour_app["faults"])) <= 512  # the models file's max_edge, not the slider's old 1536


def _sizes(faults) -> list[int]:
    import base64
    import io

    from PIL import Image

    sizes = []
    for body in faults.requests:
        for message in body.get("messages", []):
            for part in message["content"] if isinstance(message.get("content"), list) else []:
                if part.get("type") == "image_url":
                    data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                    sizes.append(max(Image.open(io.BytesIO(data)).size))
    return sizes
