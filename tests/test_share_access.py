"""Share tokens, run owners and the sign-in option, called directly (the browser tests are in test_share_links.py):
History lists and opens only the signed-in user's runs, the public-Space banner shows exactly when nothing limits
a Space, a shared comparison keeps no key, and opening a share link calls no model."""
from __future__ import annotations

import sqlite3
import sys
from types import SimpleNamespace

import gradio as gr
import pytest

from tests.app_process import ROOT
from workbench import ConfigError, ModelSpec, run_batch
from workbench.store import SCHEMA_VERSION, RunStore, list_runs
from workbench.ui.access import current_user, login_mode, public_space_warning
from workbench.ui.compare_tab import compare_and_keep
from workbench.ui.history_tab import open_history_run, report_file, runs_table, share_history_run
from workbench.ui.share_link import SHARE_PARAM, link_to_comparison
from workbench.ui.shared_view import VIEW_KEYS, open_shared

IMAGE = str(ROOT / "sample_images" / "road_pothole_severe.jpg")
DUMMY_KEY = "dummy-share-test-key-0123456789abcdef"  # not a real key: none is ever used in tests


def profile(name: str) -> gr.OAuthProfile:
    return gr.OAuthProfile({"name": name.title(), "preferred_username": name, "profile": f"/{name}", "picture": ""})


@pytest.fixture
def fault_server():
    from tests.fault_server import FaultServer

    with FaultServer() as server:
        yield server


@pytest.fixture
def store_of_three(tmp_path, monkeypatch, fault_server):
    """A store with a run by alice, one by bob and one made from a notebook (no owner)."""
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "runs.db"))
    monkeypatch.chdir(tmp_path)
    model = ModelSpec(name="grader", provider="custom", base_url=fault_server.url, model="ok")
    runs = {who: run_batch([IMAGE], "pothole_severity", [model], progress=False, owner=who).run_id
            for who in ("alice", "bob", None)}
    return runs


def test_history_shows_and_opens_only_the_signed_in_users_runs(store_of_three, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LOGIN", "hf")
    table, choices = runs_table(profile("alice"))
    assert list(table["run_id"]) == [store_of_three["alice"]] and choices["choices"] == [store_of_three["alice"]]
    results, _metrics, _csv = open_history_run(store_of_three["alice"], profile("alice"))
    assert len(results) == 1
    for handler in (open_history_run, report_file, share_history_run):
        with pytest.raises(gr.Error, match="not one of yours"):
            handler(store_of_three["bob"], profile("alice"))
    with pytest.raises(gr.Error, match="Sign in with Hugging Face"):
        runs_table(None)  # sign-in on, nobody signed in: no runs at all, and the button to press


def test_without_sign_in_history_shows_every_run(store_of_three, monkeypatch):
    monkeypatch.delenv("WORKBENCH_LOGIN", raising=False)
    table, _ = runs_table(None)
    assert set(table["run_id"]) == set(store_of_three.values())
    assert list(list_runs(owner="bob")["run_id"]) == [store_of_three["bob"]]
    assert current_user(profile("alice")) is None  # sign-in off: nobody is filtered, whoever the profile says


def test_the_same_batch_by_two_users_is_two_runs(store_of_three):
    store = RunStore()
    assert len(set(store_of_three.values())) == 3  # bob's identical batch did not resume alice's finished run
    assert [store.owner(store_of_three[w]) for w in ("alice", "bob", None)] == ["alice", "bob", None]


def test_history_report_button_writes_a_self_contained_html_file(store_of_three, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LOGIN", "hf")
    path = report_file(store_of_three["alice"], profile("alice"))
    html = open(path, encoding="utf-8").read()
    assert path.endswith(f"{store_of_three['alice']}.html") and "road_pothole_severe.jpg" in html
    assert "data:image/jpeg;base64," in html  # the thumbnail travels inside the file


@pytest.mark.parametrize("env, shown", [
    ({}, False),  # not a Space
    ({"SPACE_ID": "me/wb"}, True),  # a Space with nothing limiting it
    ({"SPACE_ID": "me/wb", "WORKBENCH_AUTH": "a:b"}, False),
    ({"SPACE_ID": "me/wb", "WORKBENCH_LOGIN": "hf"}, False),
    ({"SPACE_ID": "me/wb", "WORKBENCH_PUBLIC": "yes"}, False),  # public on purpose
    ({"SPACE_ID": "me/wb", "WORKBENCH_LOGIN": "off"}, True),
])
def test_the_public_space_banner_shows_when_nothing_limits_a_space(env, shown):
    warning = public_space_warning(env)
    assert (warning is not None) == shown
    if shown:  # it names the fix in the Space's own settings
        assert "WORKBENCH_LOGIN" in warning and "WORKBENCH_AUTH" in warning and "WORKBENCH_PUBLIC" in warning


def test_the_banner_is_on_the_page_of_a_public_space_only(monkeypatch):
    import app

    def banner(**env) -> bool:
        for name in ("SPACE_ID", "WORKBENCH_AUTH", "WORKBENCH_LOGIN", "WORKBENCH_PUBLIC"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        demo = app.build_demo([])
        return any(getattr(b, "elem_id", None) == "public-space-warning" for b in demo.blocks.values())

    assert banner(SPACE_ID="me/wb") and not banner() and not banner(SPACE_ID="me/wb", WORKBENCH_AUTH="a:b")


def test_an_unknown_sign_in_is_refused_with_the_values_it_takes():
    assert login_mode({"WORKBENCH_LOGIN": "HF"}) == "hf" and login_mode({}) is None
    with pytest.raises(ConfigError, match="set it to hf"):
        login_mode({"WORKBENCH_LOGIN": "github"})


def test_the_app_refuses_sign_in_without_gradios_oauth_extras(monkeypatch, capsys):
    import app
    from workbench.ui.access import oauth_ready

    monkeypatch.setitem(sys.modules, "itsdangerous", None)  # as on a machine without gradio[oauth] (CI has it)
    assert oauth_ready() is not None
    monkeypatch.setenv("WORKBENCH_LOGIN", "hf")
    with pytest.raises(SystemExit) as exit_:
        app.main(["--port", "0"])
    assert exit_.value.code == 2 and 'pip install "gradio[oauth]"' in capsys.readouterr().err


def test_a_shared_comparison_keeps_no_key_and_reopens_without_a_call(tmp_path, monkeypatch, fault_server):
    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "runs.db"))
    monkeypatch.delenv("WORKBENCH_LOGIN", raising=False)
    catalog = [ModelSpec(name="graded", provider="custom", base_url=fault_server.url, model="ok"),
               ModelSpec(name="echoes the key", provider="custom", base_url=fault_server.url, model="401",
                         key_env="WB_SHARE_TEST_KEY")]
    *_, (cards, table, kept) = compare_and_keep(IMAGE, "pothole_severity", None, "", ["graded", "echoes the key"],
                                                {"WB_SHARE_TEST_KEY": DUMMY_KEY}, [], 64, 512, "auto", "generate",
                                                catalog=catalog)
    link, kept = link_to_comparison(kept)
    token = link["value"].split(f"?{SHARE_PARAM}=", 1)[1]
    assert link_to_comparison(kept)[0]["value"] == link["value"]  # pressed again: the same link, stored once
    for path in tmp_path.rglob("*"):  # the store, its WAL and the image copy
        if path.is_file():
            assert DUMMY_KEY.encode() not in path.read_bytes(), path
    calls = len(fault_server.requests)
    request = SimpleNamespace(query_params={SHARE_PARAM: token})
    shown = dict(zip(VIEW_KEYS, open_shared(request)))
    assert shown["cards"]["value"] == cards and shown["tabs"]["visible"] is False
    assert list(shown["table"]["value"]["model"]) == list(table["model"])
    assert shown["image"]["value"].size[0] > 0 and "Pothole" in shown["title"]["value"]
    assert len(fault_server.requests) == calls  # opening it called no model


def test_a_store_from_before_sharing_gains_owners_and_shares_without_a_version_bump(tmp_path):
    db = tmp_path / "old.db"
    run = RunStore(db).create_run(task="moderation", models=[], prompts={}, params={}, source="x", fingerprint="f",
                                  n_items=0)
    with sqlite3.connect(db) as conn:  # what a store written before share links looks like
        conn.execute("DROP TABLE shares")
        conn.execute("ALTER TABLE runs DROP COLUMN owner")
    store = RunStore(db)
    assert store.owner(run) is None
    token = store.share_run(run)
    assert store.share_run(run) == token and store.shared(token)["run_id"] == run and run not in token
    assert store.shared("no-such-token") is None
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
