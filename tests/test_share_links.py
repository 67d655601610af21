"""Share links in a real browser: a comparison run in the Compare tab, and a batch run opened in History, each
shared as a link and opened in a fresh browser context (no cookies, no session: a stakeholder's browser) — the
same cards and answers come back read-only, and the model server is not called again. History's HTML report
button hands over a report file. Screenshots at 1280 and 390 px go to tests/_artifacts/."""
from __future__ import annotations

import re

import pytest

from tests.app_process import road_grader, start_app, stop_app
from tests.test_app import ARTIFACTS, ROOT, _chromium
from tests.test_app_tour import FLAGS, UNREADABLE

SAMPLES = ROOT / "sample_images"
ROADS = {"road_pothole_severe.jpg": "severe", "road_clear.jpg": "no_pothole"}


@pytest.fixture(scope="module")
def share_app(tmp_path_factory):
    """The app with one OpenAI-compatible model on loopback (the fault server counts its calls) and a run store
    that already holds a two-image batch run made from Python."""
    work = tmp_path_factory.mktemp("share")
    faults, models, db, earlier = road_grader(work, ROADS, list(ROADS))
    proc, url, _ = start_app(work, env={"WORKBENCH_MODELS": str(models), "WORKBENCH_DB": str(db)},
                             drop=("SPACE_ID", "WORKBENCH_LOGIN", "WORKBENCH_AUTH"))
    yield {"url": url, "run": earlier.run_id, "faults": faults, "work": work}
    stop_app(proc)
    faults.stop()


def _shots(page, name: str, root: str = "#shared-view") -> str:
    """Screenshots at 1280 and 390 px; the page never scrolls sideways and `root` reads nothing unreadable."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.wait_for_timeout(300)
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


def _link(page, prefix: str, origin: str) -> str:
    page.locator(f"#{prefix}-share").click()
    box = page.locator(f"#{prefix}-share-link :is(input, textarea)")
    page.wait_for_function(f"(document.querySelector('#{prefix}-share-link :is(input, textarea)') || {{}}).value"
                           "?.startsWith('http')", timeout=20_000)
    link = box.input_value()
    assert link.startswith(origin) and re.search(r"\?share=[\w-]{16}$", link), link
    return link


def _open_fresh(browser, link: str):
    """A new browser context: no cookies or storage from the page that made the link."""
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(link)
    expect(page.locator("#shared-view")).to_be_visible(timeout=30_000)
    expect(page.locator("#workbench-tabs")).to_be_hidden()  # the workbench itself is not in the shared view
    return page


def test_a_shared_comparison_reopens_its_cards_without_calling_a_model(share_app):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(share_app["url"])
        expect(page.locator("#compare-share")).to_be_hidden()  # no result yet: nothing to share
        page.locator("#compare-tab input[type=file]").first.set_input_files(str(SAMPLES / "road_pothole_severe.jpg"))
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.locator("#compare-results")).to_contain_text("severe", timeout=60_000)
        cards = page.locator("#compare-tab .wb-cards").inner_text()
        table = page.locator("#compare-results").inner_text().split("\n", 1)[1]  # below its label
        link = _link(page, "compare", share_app["url"].rstrip("/"))
        assert _link(page, "compare", share_app["url"].rstrip("/")) == link  # pressed again: the same link
        _shots(page, "compare_share_link", "#compare-tab")
        calls = len(share_app["faults"].requests)

        shared = _open_fresh(browser, link)
        expect(shared.locator("#shared-cards")).to_contain_text("road grader", timeout=30_000)
        assert shared.locator("#shared-cards .wb-cards").inner_text() == cards  # the same cards, verdict to cost
        assert shared.locator("#shared-results").inner_text().split("\n", 1)[1] == table
        expect(shared.locator("#shared-image img")).to_be_visible()
        expect(shared.locator("#shared-prompt textarea")).to_have_value(re.compile("pothole", re.I))
        assert shared.locator("#shared-view button:has-text('Run')").count() == 0  # read-only: nothing to run
        text = _shots(shared, "shared_compare")
        browser.close()
    assert "calls no model" in text and "Pothole" in text
    assert len(share_app["faults"].requests) == calls  # opening the link called no model


def test_a_batch_run_shared_from_history_reopens_read_only_and_its_report_downloads(share_app):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(share_app["url"])
        page.get_by_role("tab", name="History").click()
        runs = page.locator("#history-runs")
        expect(runs).to_contain_text(share_app["run"], timeout=20_000)
        runs.get_by_text(share_app["run"], exact=True).filter(visible=True).first.click()
        expect(page.locator("#history-results")).to_contain_text("road_clear.jpg", timeout=20_000)
        page.locator("#history-report").click()
        report = page.locator("#history-report-file a").first
        expect(report).to_have_attribute("download", f"{share_app['run']}.html", timeout=30_000)
        with page.expect_download() as download:
            report.click()
        html = open(download.value.path(), encoding="utf-8").read()
        link = _link(page, "history", share_app["url"].rstrip("/"))
        _shots(page, "history_share_link", "body")
        calls = len(share_app["faults"].requests)

        shared = _open_fresh(browser, link)
        tiles = shared.locator("#shared-cards .wb-tile")
        expect(tiles).to_have_count(2, timeout=30_000)  # one per image: thumbnail, expected label, each answer
        expect(tiles.filter(has_text="road_clear.jpg")).to_contain_text("road grader: no_pothole")
        expect(tiles.filter(has_text="road_pothole_severe.jpg")).to_contain_text("road grader: severe")
        expect(tiles.locator("img").first).to_be_visible()
        expect(shared.locator("#shared-key")).to_contain_text("road grader")
        text = _shots(shared, "shared_run")

        missing = _open_fresh(browser, share_app["url"] + "?share=not-a-real-token")
        expect(missing.locator("#shared-title")).to_contain_text("opens nothing here")
        browser.close()
    assert share_app["run"] in text and "severe" in text
    assert "road_pothole_severe.jpg" in html and "<img" in html  # the report: answers and embedded images
    assert len(share_app["faults"].requests) == calls
