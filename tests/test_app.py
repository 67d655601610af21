"""The app, as users and API clients meet it: launched as `python app.py` on loopback, driven through
gradio_client and a real browser (Debian chromium + Playwright), with a canary key that must never leak."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from .app_process import start_app, stop_app

ROOT = Path(__file__).resolve().parents[1]
CANARY = "canary-key-7f3a9c2e5b1d4a6f8e0c"  # a dummy key: the app must never echo it
CANARY_UI = "canary-typed-in-browser-0000"
ARTIFACTS = ROOT / "tests" / "_artifacts"


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, tiny_llava_dir, tiny_idefics3_dir, transformers_serve):
    from tests.fault_server import FaultServer

    work = tmp_path_factory.mktemp("app")
    faults = FaultServer().start()
    models = work / "models.toml"
    models.write_text(f"""
[[models]]
name = "tiny llava"
backend = "transformers"
model = "{tiny_llava_dir}"
selected = true

[[models]]
name = "tiny idefics3"
backend = "transformers"
model = "{tiny_idefics3_dir}"
selected = true

[[models]]
name = "served llava"
provider = "custom"
base_url = "{transformers_serve.base_url}"
model = "{transformers_serve.model}"
timeout = 60

[[models]]
name = "leaky proxy"
provider = "custom"
base_url = "{faults.url}"
model = "401"
key_env = "WB_CANARY_KEY"
max_retries = 0
""")
    proc, url, log_path = start_app(work, env={"WORKBENCH_MODELS": str(models), "WB_CANARY_KEY": CANARY},
                                    timeout_s=90)
    yield {"url": url, "work": work, "log": log_path, "faults": faults}
    stop_app(proc)
    faults.stop()


def _predict(url: str, models: list[str], task="pothole_severity", prompt=None, variable=""):
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    prompt = prompt if prompt is not None else "Grade the pothole. Answer JSON."
    return client.predict(handle_file(str(ROOT / "sample_images" / "road_pothole_severe.jpg")), task, prompt,
                          variable, models, 16, 512, "auto", "generate", api_name="/compare")


def test_compare_endpoint_gives_one_result_per_model(app_server):
    models = ["tiny llava", "tiny idefics3", "served llava", "leaky proxy"]
    html, table = _predict(app_server["url"], models)
    rows = {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}
    assert list(rows) == models
    assert html.count('class="wb-card"') == 4
    for name in ("tiny llava", "tiny idefics3", "served llava"):
        assert rows[name]["status"] != "error", rows[name]["error"]
        assert rows[name]["tokens out"] and rows[name]["latency (s)"] > 0  # short headers for people
    failed = rows["leaky proxy"]
    assert failed["status"] == "error" and failed["error kind"] == "auth_error"
    assert "WB_CANARY_KEY" in failed["error"]  # the message names the variable to fix…
    assert CANARY not in html and CANARY not in str(table)  # …and never the key, even when the server echoes it


def test_api_errors_are_shown_to_clients(app_server, tmp_path):
    from gradio_client import Client, handle_file

    bad = tmp_path / "fake.png"
    bad.write_bytes(b"%PDF-1.4 not really a picture")
    client = Client(app_server["url"], verbose=False)
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(bad)), "ask", "What is this?", "", ["tiny llava"], 16, 512, "auto",
                       "generate", api_name="/compare")
    assert "PDF" in str(err.value)  # show_error=True: the client sees the reason, not {"error": null}
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(ROOT / "sample_images" / "park_scene.jpg")), "ask", "x", "", [], 16, 512,
                       "auto", "generate", api_name="/compare")
    assert "model" in str(err.value)


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Debian's chromium is needed for the browser test: apt-get install -y chromium")
    return path


def test_browser_compare_flow(app_server):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_server["url"])
        page.locator("input[type=file]").first.set_input_files(str(ROOT / "sample_images" / "road_pothole_severe.jpg"))
        page.get_by_label("served llava", exact=False).check()
        page.get_by_text("API keys", exact=False).click()
        page.get_by_label("WB_CANARY_KEY").fill(CANARY_UI)
        page.get_by_role("button", name="Run").click()
        page.wait_for_function(
            "document.querySelectorAll('.wb-card').length === 3 && "
            "document.querySelectorAll('.wb-card[data-status=running]').length === 0", timeout=120_000)
        cards = page.locator(".wb-card")
        names = sorted(cards.nth(i).get_attribute("data-model") for i in range(cards.count()))
        assert names == ["served llava", "tiny idefics3", "tiny llava"]
        results_text = page.locator(".wb-cards").inner_text()
        page.screenshot(path=str(ARTIFACTS / "compare.png"), full_page=True)
        browser.close()
    assert CANARY_UI not in results_text


def test_batch_and_history_endpoints(app_server, tmp_path):
    """A zip of images plus a labels CSV through the Batch tab's endpoint, then the run appears in History."""
    import csv
    import zipfile

    from gradio_client import Client, handle_file

    samples = ROOT / "sample_images"
    names = ["road_pothole_severe.jpg", "road_pothole_minor.jpg", "road_clear.jpg"]
    archive = tmp_path / "roads.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in names:
            zf.write(samples / name, f"roads/{name}")
        zf.writestr("../escape.jpg", b"outside")  # must never be written outside the unpack folder
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as f:
        csv.writer(f).writerows([["file", "label"], *[[n, n.split("_")[-1][:-4]] for n in names]])
    client = Client(app_server["url"], verbose=False)
    summary, metrics, _plot, compliance, _changes, export = client.predict(
        [handle_file(str(archive))], handle_file(str(labels)), "pothole_severity", "", "Grade it. JSON.", "",
        ["tiny llava", "leaky proxy"], "generate", 4, api_name="/batch")
    assert "6 items" in summary and "Run id" in summary
    rows = {(r[0], r[1]): dict(zip(metrics["headers"], r)) for r in metrics["data"]}
    assert {m for m, _ in rows} == {"tiny llava", "leaky proxy"}
    assert all(r["n"] == 3 for r in rows.values())
    exported = Path(export).read_text()
    assert exported.count("road_") >= 6 and "escape" not in exported
    assert CANARY not in exported and CANARY not in summary
    runs, _choices = client.predict(api_name="/runs")
    run_id = summary.split("Run id `")[1].split("`")[0]
    assert run_id in [row[0] for row in runs["data"]]
    results, _metrics, _download = client.predict(run_id, api_name="/open_run")
    assert len(results["data"]) == 6


def test_browser_added_model_runs_in_compare_and_batch(app_server):
    """A model added in the Compare tab runs there, and is listed, tickable and run in the Batch tab."""
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    faults = app_server["faults"]
    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=flags)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app_server["url"])
        page.locator("#compare-tab input[type=file]").first.set_input_files(
            str(ROOT / "sample_images" / "road_pothole_severe.jpg"))
        page.get_by_text("Add an OpenAI-compatible model", exact=False).click()
        page.get_by_label("Display name").fill("my server")
        page.get_by_label("Base URL").fill(faults.url)
        page.get_by_label("Model id").fill("stream-ok")
        page.get_by_role("button", name="Add model").click()
        added = page.locator("#compare-models").get_by_label("my server", exact=False)
        expect(added).to_be_checked(timeout=20_000)  # added and ticked
        before = faults.calls_for("stream-ok")
        page.get_by_role("button", name="Run", exact=True).click()
        page.wait_for_function(
            "document.querySelectorAll('.wb-card').length === 3 && "
            "document.querySelectorAll('.wb-card[data-status=running]').length === 0", timeout=120_000)
        expect(page.locator("#compare-results")).to_contain_text("my server", timeout=20_000)
        assert faults.calls_for("stream-ok") == before + 1
        page.screenshot(path=str(ARTIFACTS / "compare_1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(ARTIFACTS / "compare_390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # tables scroll inside their frame
        assert "[object Object]" not in page.locator("#compare-tab").inner_text()
        page.set_viewport_size({"width": 1280, "height": 900})

        page.get_by_role("tab", name="Batch & evaluate").click()
        batch_models = page.locator("#batch-models")
        mine = batch_models.get_by_label("my server", exact=False)
        expect(mine).to_be_visible(timeout=20_000)
        for name in ("tiny llava", "tiny idefics3"):
            batch_models.get_by_label(name, exact=False).uncheck()
        mine.check()
        expect(mine).to_be_checked()
        page.locator("#batch-uploads input[type=file]").set_input_files(
            str(ROOT / "sample_images" / "road_pothole_minor.jpg"))
        page.get_by_role("button", name="Run batch").click()
        expect(page.locator("#batch-summary")).to_contain_text("Done.", timeout=120_000)
        summary = page.locator("#batch-summary").inner_text()
        run_id = summary.split("Run id ")[1].split()[0].strip("`")

        page.get_by_role("tab", name="History").click()  # the run picker lists the runs; a click on a row opens one
        expect(page.locator("#history-runs")).to_contain_text(run_id, timeout=20_000)
        page.locator("#history-runs").get_by_text(run_id, exact=True).filter(visible=True).first.click()
        expect(page.locator("#history-results")).to_contain_text("road_pothole_minor", timeout=20_000)
        expect(page.locator("#history-run input")).to_have_value(run_id)
        page.locator("#history-run input").click()
        expect(page.get_by_role("option", name=run_id)).to_be_visible()
        browser.close()
    assert "1 items" in summary or "1 item" in summary, summary
    assert faults.calls_for("stream-ok") == before + 2  # the batch called the added model


def test_canary_key_is_nowhere(app_server):
    """Runs last in this module: the logs and every file the app wrote must be free of both canaries."""
    # One more call where the session key is used and echoed back by the server.
    _predict(app_server["url"], ["leaky proxy"])
    time.sleep(0.5)
    haystacks = {"app log": app_server["log"].read_text(errors="replace")}
    for path in Path(app_server["work"]).rglob("*"):
        if path.is_file() and path != app_server["log"] and path.name != "models.toml":
            haystacks[str(path)] = path.read_bytes().decode("latin-1")
    assert len(haystacks) >= 2  # the log and at least the uploaded images
    for where, text in haystacks.items():
        assert CANARY not in text, f"canary key found in {where}"
        assert CANARY_UI not in text, f"browser-typed canary key found in {where}"
