"""WORKBENCH_LOGIN=hf in a real browser, the way a Space runs it (SPACE_ID and the OAUTH_* variables a Space with
`hf_oauth: true` gets): a visitor who has not signed in sees the "Sign in with Hugging Face" button and is refused
a run with a message that names it; a signed-in user's History lists only their runs, and their comparison runs.

Signing in for real needs huggingface.co, which these machines cannot reach: the test hands the browser the
session cookie Gradio's callback would have set (signed with the same secret). Needs Gradio's OAuth extras
(`pip install "gradio[oauth]"`); skipped without them."""
from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest

from tests.app_process import start_app, stop_app
from tests.test_app import ROOT, _chromium
from tests.test_app_tour import FLAGS

pytest.importorskip("itsdangerous")
pytest.importorskip("authlib")

SECRET = "dummy-oauth-secret-for-tests"
IMAGE = ROOT / "sample_images" / "road_pothole_severe.jpg"
SPACE = {"SYSTEM": "spaces", "SPACE_ID": "me/workbench", "OAUTH_CLIENT_ID": "dummy-client", "OAUTH_CLIENT_SECRET": SECRET,
         "OAUTH_SCOPES": "openid profile", "OPENID_PROVIDER_URL": "http://127.0.0.1:9", "WORKBENCH_LOGIN": "hf"}


@pytest.fixture(scope="module")
def signed_app(tmp_path_factory):
    from tests.fault_server import FaultServer
    from workbench import ModelSpec, run_batch

    work = tmp_path_factory.mktemp("sign-in")
    faults = FaultServer().start()
    (work / "models.toml").write_text(f"""
[[models]]
name = "road grader"
provider = "custom"
base_url = "{faults.url}"
model = "ok"
selected = true
""")
    db = work / "runs.db"
    grader = ModelSpec(name="road grader", provider="custom", base_url=faults.url, model="ok")
    runs = {who: run_batch([str(IMAGE)], "pothole_severity", [grader], db=db, progress=False, owner=who).run_id
            for who in ("alice", "bob")}
    proc, url, _ = start_app(work, env={"WORKBENCH_MODELS": str(work / "models.toml"), "WORKBENCH_DB": str(db),
                                        **SPACE}, drop=("WORKBENCH_AUTH", "WORKBENCH_PUBLIC"))
    yield {"url": url, "runs": runs, "faults": faults}
    stop_app(proc)
    faults.stop()


def _session_cookie(user: str) -> str:
    """The cookie Gradio's OAuth callback sets after a sign-in (Starlette's SessionMiddleware format)."""
    from itsdangerous import TimestampSigner

    session = {"oauth_info": {"access_token": "dummy", "expires_at": int(time.time()) + 3600, "scope": "openid",
                              "userinfo": {"name": user.title(), "preferred_username": user,
                                           "profile": f"/{user}", "picture": ""}}}
    signer = TimestampSigner(hashlib.sha256(f"{SECRET}-v4".encode()).hexdigest())
    return signer.sign(base64.b64encode(json.dumps(session).encode())).decode()


def test_sign_in_limits_runs_to_signed_in_users_and_history_to_their_own(signed_app):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=FLAGS)
        visitor = browser.new_page()
        visitor.goto(signed_app["url"])
        expect(visitor.get_by_role("button", name="Sign in with Hugging Face")).to_be_visible(timeout=20_000)
        expect(visitor.locator("#public-space-warning")).to_have_count(0)  # sign-in on: no public-Space note
        visitor.locator("#compare-tab input[type=file]").first.set_input_files(str(IMAGE))
        visitor.get_by_role("button", name="Run", exact=True).click()
        expect(visitor.get_by_text("Sign in first").first).to_be_visible(timeout=20_000)

        # Gradio sets it Secure (https on a Space); over this test's plain http a Secure cookie would be dropped,
        # and the server reads a plain one the same way
        context = browser.new_context()
        context.add_cookies([{"name": "session", "value": _session_cookie("alice"), "url": signed_app["url"]}])
        alice = context.new_page()
        alice.goto(signed_app["url"])
        expect(alice.get_by_role("button", name="Logout (alice)")).to_be_visible(timeout=20_000)  # signed in
        alice.get_by_role("tab", name="History").click()
        runs = alice.locator("#history-runs")
        expect(runs).to_contain_text(signed_app["runs"]["alice"], timeout=20_000)
        expect(runs).not_to_contain_text(signed_app["runs"]["bob"])
        alice.get_by_role("tab", name="Compare").click()
        alice.locator("#compare-tab input[type=file]").first.set_input_files(str(IMAGE))
        alice.get_by_role("button", name="Run", exact=True).click()
        expect(alice.locator("#compare-results")).to_contain_text("road grader", timeout=60_000)
        expect(alice.locator("#compare-share")).to_be_visible()
        browser.close()
