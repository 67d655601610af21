"""The app's messages where a person meets them: `python app.py` on loopback with only loopback servers (no model
to load), driven through gradio_client and a real browser."""
from __future__ import annotations

import pytest

from .app_process import start_app, stop_app
from .test_app import ARTIFACTS, ROOT, _chromium

ABSENT = "WB_APP_MSG_ABSENT_KEY"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def light_app(tmp_path_factory):
    from tests.fault_server import FaultServer

    work = tmp_path_factory.mktemp("app-messages")
    faults = FaultServer().start()
    models = work / "models.toml"
    models.write_text(f"""
[[models]]
name = "served"
provider = "custom"
base_url = "{faults.url}"
model = "ok"
selected = true

[[models]]
name = "keyed"
provider = "custom"
base_url = "{faults.url}"
model = "ok"
key_env = "{ABSENT}"
""")
    proc, url, _ = start_app(work, env={"WORKBENCH_MODELS": str(models), "WORKBENCH_DB": str(work / "wb.db")},
                             drop=(ABSENT,))
    yield {"url": url, "faults": faults}
    stop_app(proc)
    faults.stop()


def test_compare_endpoint_has_a_real_description(light_app):
    from gradio_client import Client

    api = Client(light_app["url"], verbose=False).view_api(return_format="dict", print_info=False)
    description = api["named_endpoints"]["/compare"]["description"]
    assert description.startswith("One image through several vision-language models on one task")
    assert "tag_rating" in description and "error that says what to fix" in description


def test_compare_endpoint_names_the_tag_box(light_app):
    from gradio_client import Client, handle_file

    client = Client(light_app["url"], verbose=False)
    with pytest.raises(Exception) as err:
        client.predict(handle_file(str(ROOT / "sample_images" / "park_scene.jpg")), "tag_rating",
                       "Rate how much this shows {tag}.", "", ["served"], 16, 512, "auto", "generate",
                       api_name="/compare")
    assert "needs a value for {tag} — fill the Tag box" in str(err.value)


def test_browser_refuses_a_typod_model_id_and_names_the_key_box(light_app):
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    faults = light_app["faults"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(light_app["url"])
        models = page.locator("#compare-models")
        expect(models).to_contain_text(f"set {ABSENT} in .env or the API keys box", timeout=20_000)
        page.get_by_text("Add an OpenAI-compatible model", exact=False).click()
        page.get_by_label("Display name").fill("typo")
        page.get_by_label("Base URL").fill(faults.url)
        page.get_by_label("Model id").fill("stream-okk")
        page.get_by_role("button", name="Add model").click()
        toast = page.locator(".toast-body").filter(has_text="is not served at")
        expect(toast).to_contain_text("it serves: 400, 401", timeout=20_000)
        expect(toast).to_contain_text("Did you mean 'stream-ok'?")
        page.screenshot(path=str(ARTIFACTS / "add_model_typo_1280.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(ARTIFACTS / "add_model_typo_390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert "typo" not in models.inner_text()  # refused: not added to the Models box
        browser.close()
