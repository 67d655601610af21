"""The shareable HTML report: a real run of the sample images against the loopback fault server, written by the CLI,
opened in a real Chromium with the network off (offline context, and every non-file request blocked and recorded)."""
from __future__ import annotations

import json
import re
import threading
import zlib
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.models import ModelSpec
from workbench.store import open_run

from .fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_images"
ARTIFACTS = ROOT / "tests" / "_artifacts"
CANARY = "canary-report-key-5e1f0a9b7c3d"
PAYLOAD = '<script>window.__pwned = 1</script><img src="http://127.0.0.1:9/x.png" onerror="window.__pwned = 2">'
SEVERITIES = ("no_pothole", "minor", "moderate", "severe")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


class PerImageServer(FaultServer):
    """The fault server, answering each image with its own severity (picked from the image's bytes, so some answers
    are right and some wrong) and a reason that carries markup a careless report would run."""

    _body = threading.local()

    def _record(self, body, headers):
        self._body.value = body  # the handler thread that records a request is the one that answers it
        return super()._record(body, headers)

    @property
    def reply_text(self) -> str:
        content = (getattr(self._body, "value", None) or {}).get("messages", [{}])[-1].get("content") or []
        urls = [p["image_url"]["url"] for p in content if isinstance(p, dict) and p.get("type") == "image_url"]
        severity = SEVERITIES[zlib.crc32(("2" + "".join(urls)).encode()) % len(SEVERITIES)]  # "2": a mix of right and wrong
        return json.dumps({"severity": severity, "reason": f"{PAYLOAD} — looks {severity}"})

    @reply_text.setter
    def reply_text(self, value) -> None:  # FaultServer.__init__ sets it; this server makes its own
        pass


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two real runs in one store: pothole severity with labels (two answering models, one whose key is rejected),
    and a free-form `ask` run without labels."""
    from workbench.batch import run_batch

    work = tmp_path_factory.mktemp("report")
    db = work / "wb.db"
    with PerImageServer() as server:
        specs = [ModelSpec(name="fault ok", provider="custom", base_url=server.url, model="ok", timeout=10),
                 ModelSpec(name="fault cost", provider="custom", base_url=server.url, model="cost", timeout=10),
                 ModelSpec(name="rejected key", provider="custom", base_url=server.url, model="401",
                           key_env="WB_REPORT_CANARY", max_retries=0, timeout=10)]
        labelled = run_batch(SAMPLES, "pothole_severity", specs, labels=SAMPLES / "labels.csv", db=db,
                             keys={"WB_REPORT_CANARY": CANARY}, progress=False)
        unlabelled = run_batch(SAMPLES, "ask", specs[:1], variables={"question": "What is shown?"}, db=db,
                               progress=False)
    return {"db": db, "work": work, "labelled": labelled.run_id, "unlabelled": unlabelled.run_id}


def _report(runs, key: str, capsys) -> tuple[Path, str]:
    path = runs["work"] / f"{key}.html"
    assert main(["report", runs[key], "--db", str(runs["db"]), "-o", str(path)]) == 0
    assert capsys.readouterr().out.strip() == str(path)  # the path written, for scripts
    return path, path.read_text(encoding="utf-8")


def test_the_report_is_self_contained_escaped_and_keyless(runs, capsys):
    path, text = _report(runs, "labelled", capsys)
    assert CANARY not in text  # the rejected key's echo stays out of the file
    assert not re.search(r"<script|<link|@import|url\(|srcset", text, re.I)  # nothing to run, nothing to fetch
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', text)
    assert sources and all(s.startswith(("data:image/", "#")) for s in sources), sources
    assert "&lt;script&gt;window.__pwned" in text  # the model's markup is shown as text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text
    assert path.stat().st_size < 2_000_000


def test_a_run_without_labels_still_reports_every_answer(runs, capsys):
    _, text = _report(runs, "unlabelled", capsys)
    results = open_run(runs["unlabelled"], runs["db"])
    assert 'id="no-labels"' in text and ">accuracy<" not in text
    assert text.count('class="image"') == results["image_path"].nunique()
    assert text.count('data-model="fault ok"') == len(results)
    assert "What is shown?" in text or "{question}" in text  # the prompt version is in the report


def test_report_cli_usage_errors_and_default_path(runs, capsys):
    assert main(["report", "no-such-run", "--db", str(runs["db"])]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err
    assert main(["report", runs["labelled"][:-1], "--db", str(runs["db"])]) == 0  # a unique prefix is enough
    written = Path(capsys.readouterr().out.strip())
    assert written == runs["db"].parent / f"{runs['labelled']}.html" and written.stat().st_size > 0


def _open_offline(browser, path: Path, width: int, height: int):
    """A page with the network off twice over: an offline context, and a route that blocks (and records) every
    request that is not for the file itself."""
    context = browser.new_context(offline=True, viewport={"width": width, "height": height})
    attempted: list[str] = []

    def block(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    context.route("**/*", block)
    page = context.new_page()
    page.on("request", lambda r: attempted.append(r.url) if not r.url.startswith(("file://", "data:")) else None)
    page.goto(path.as_uri(), wait_until="load")
    return context, page, attempted


def test_the_report_opens_offline_in_chromium_with_every_answer_and_the_metrics(runs, capsys):
    sync_api = pytest.importorskip("playwright.sync_api")
    path, _ = _report(runs, "labelled", capsys)
    results = open_run(runs["labelled"], runs["db"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            context, page, attempted = _open_offline(browser, path, 1280, 900)
            _check_answers(page, results)
            _check_metrics(page)
            assert page.evaluate("window.__pwned") is None  # the model's script and onerror never ran
            page.screenshot(path=str(ARTIFACTS / "report_1280.png"), full_page=True)
            context.close()

            context, phone, phone_attempted = _open_offline(browser, path, 390, 844)
            assert phone.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling page
            assert phone.locator("article.image").count() == results["image_path"].nunique()
            phone.screenshot(path=str(ARTIFACTS / "report_390.png"), full_page=True)
            context.close()
        finally:
            browser.close()
    assert attempted == [] and phone_attempted == []


def _check_answers(page, results) -> None:
    """Every image has a card with a loaded thumbnail and one answer per model, showing the stored verdict."""
    cards = page.locator("article.image")
    assert cards.count() == results["image_path"].nunique() == len(list(SAMPLES.glob("*.[jp][pn]g")))
    for image_path, rows in results.groupby("image_path"):
        card = page.locator(f'article.image[data-image="{Path(image_path).name}"]')
        assert card.count() == 1
        assert card.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")
        models = card.locator(".answer").evaluate_all("cells => cells.map(c => c.dataset.model)")
        assert models == ["fault ok", "fault cost", "rejected key"]  # the run's order, the same on every card
        for row in rows.itertuples():
            answer = card.locator(f'.answer[data-model="{row.model}"]')
            assert answer.count() == 1
            verdict = answer.locator(".verdict").inner_text()
            assert verdict.startswith(row.label if row.status != "error" else "error"), (image_path, verdict)
            if row.status == "error":
                assert "auth" in answer.locator(".error").inner_text()
            else:
                assert "<script>window.__pwned" in answer.locator("pre.raw").inner_text()
                assert answer.locator(".error").count() == 0


def _check_metrics(page) -> None:
    metrics = page.locator("section#metrics")
    headers = metrics.locator("table").first.locator("th").all_inner_texts()
    assert {"model", "accuracy", "macro F1", "$ per 1,000 images"} <= set(headers)
    rows = metrics.locator("table").first.locator("tbody tr").all_inner_texts()
    assert len(rows) == 3 and all(re.search(r"\d+%", r) for r in rows)  # accuracy as a share, for every model
    assert page.locator("section#metrics table caption", has_text="Confusion").count() == 3
    plots = page.locator("section#plots img")
    assert plots.count() >= 2
    assert all(plots.nth(i).evaluate("img => img.naturalWidth > 0") for i in range(plots.count()))
    assert page.locator("section#prompts pre.prompt").count() == 1


def test_an_image_gone_since_the_run_is_reported_without_its_picture(tmp_path):
    from workbench.batch import run_batch
    from workbench.html_report import write_report

    from .test_batch import make_images

    paths = make_images(tmp_path / "imgs", 2)
    with FaultServer() as server:
        run = run_batch(tmp_path / "imgs", "ask", [ModelSpec(name="m", provider="custom", base_url=server.url,
                                                             model="ok", timeout=10)],
                        variables={"question": "What?"}, db=tmp_path / "wb.db", progress=False)
    paths[0].unlink()
    text = write_report(run.run_id, db=tmp_path / "wb.db").read_text(encoding="utf-8")
    assert text.count('class="image"') == 2 and text.count('class="nothumb"') == 1
    assert text.count("data:image/jpeg;base64,") == 1
