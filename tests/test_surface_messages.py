"""One failure, told in the words of the surface the user is on: Python arguments, CLI flags, the app's boxes.
Also: failures grouped by kind after a CLI batch, a base URL without /v1, a labels CSV without its columns, and
an added model checked against what its server serves."""
from __future__ import annotations

import csv
import json

import gradio as gr
import pytest

from workbench import ConfigError, MissingVariables, ModelSpec, get_task
from workbench.backends import ChatRequest, get_backend
from workbench.batch import run_batch
from workbench.cli import main
from workbench.errors import KeyMissingError, NotFoundError
from workbench.images import load_image
from workbench.ui.compare_tab import add_custom_model, run_comparison
from workbench.ui.fields import model_choices
from workbench.wording import error_message

from .fault_server import fault_server  # noqa: F401
from .test_batch import make_images
from .test_openai_backend import closed_port_url

IMAGE = "sample_images/road_pothole_severe.jpg"
ABSENT = "WB_MSG_TEST_ABSENT_KEY"


@pytest.fixture
def no_dotenv(monkeypatch):
    monkeypatch.delenv(ABSENT, raising=False)
    monkeypatch.setattr("workbench.keys._load_dotenv", lambda: None)  # a developer's .env must not leak in


# --- a missing prompt variable -----------------------------------------------------------------------------


def test_python_names_the_variables_argument():
    with pytest.raises(MissingVariables) as info:
        get_task("tag_rating").render()
    assert isinstance(info.value, ConfigError) and info.value.names == ("tag",)
    assert "variables={'tag': ...}" in str(info.value)
    assert error_message(info.value, "python") == str(info.value)  # the one message, rebuilt per surface


def test_cli_names_the_var_flag(fault_server, capsys):  # noqa: F811
    code = main(["run", IMAGE, "--task", "tag_rating", "--api-base", fault_server.url, "--model", "ok"])
    err = capsys.readouterr().err
    assert code == 2
    assert "needs a value for {tag} — --var tag=VALUE" in err and "variables=" not in err


def test_cli_batch_names_the_var_flag_or_a_csv_column(tmp_path, fault_server, capsys):  # noqa: F811
    make_images(tmp_path / "imgs", 1)
    code = main(["batch", "--path", str(tmp_path / "imgs"), "--task", "tag_rating", "--api-base", fault_server.url,
                 "--model", "ok", "--db", str(tmp_path / "wb.db"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "— --var tag=VALUE (or a CSV column named tag)" in err and "variables=" not in err


def test_app_names_the_tag_box(fault_server):  # noqa: F811
    catalog = [ModelSpec(name="served", provider="custom", base_url=fault_server.url, model="ok")]
    with pytest.raises(gr.Error) as info:
        list(run_comparison(IMAGE, "tag_rating", None, "", ["served"], {}, [], 16, 512, "auto", "generate",
                            catalog=catalog))
    assert "fill the Tag box" in info.value.message and "variables=" not in info.value.message


def test_app_batch_names_the_tag_box(fault_server):  # noqa: F811
    from workbench.ui.batch_tab import run_batch_job

    catalog = [ModelSpec(name="served", provider="custom", base_url=fault_server.url, model="ok")]
    with pytest.raises(gr.Error) as info:
        list(run_batch_job([IMAGE], None, "tag_rating", "", None, None, ["served"], "generate", 1, {}, [],
                           catalog=catalog))
    assert "fill the Tag box" in info.value.message and "variables=" not in info.value.message


# --- a missing key -----------------------------------------------------------------------------------------


def _keyed(server) -> ModelSpec:
    return ModelSpec(name="keyed", provider="custom", base_url=server.url, model="ok", key_env=ABSENT)


def test_python_says_environment_or_dotenv(fault_server, no_dotenv):  # noqa: F811
    with pytest.raises(KeyMissingError) as info:
        get_backend("openai").chat(_keyed(fault_server), ChatRequest("hi", [load_image(IMAGE)]))
    assert info.value.env_var == ABSENT
    assert str(info.value) == f"keyed needs {ABSENT} — set {ABSENT} in the environment or .env"


def test_cli_says_export_or_dotenv(fault_server, no_dotenv, capsys):  # noqa: F811
    code = main(["run", IMAGE, "--task", "ask", "--api-base", fault_server.url, "--model", "ok",
                 "--api-key-env", ABSENT])
    out = capsys.readouterr().out
    assert code == 3
    assert f"export {ABSENT}=… or put it in .env" in out and "box" not in out


def test_cli_models_says_export_or_dotenv(tmp_path, no_dotenv, capsys):
    models = tmp_path / "models.toml"
    models.write_text(f'[[models]]\nname = "keyed"\nprovider = "openrouter"\nmodel = "x/y"\nkey_env = "{ABSENT}"\n')
    assert main(["models", "--models-file", str(models), "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["message"] == f"keyed needs {ABSENT} — export {ABSENT}=… or put it in .env"


def test_app_says_dotenv_or_the_keys_box(fault_server, no_dotenv):  # noqa: F811
    spec = _keyed(fault_server)
    (label, _), = model_choices([spec], {})
    assert label.endswith(f"set {ABSENT} in .env or the API keys box")
    *_, (cards, table) = run_comparison(IMAGE, "ask", "What is it?", "", ["keyed"], {}, [], 16, 512, "auto",
                                        "generate", catalog=[spec])
    assert f"set {ABSENT} in .env or the API keys box" in cards
    assert list(table["error"]) == [f"keyed needs {ABSENT} — set {ABSENT} in .env or the API keys box"]


# --- the server does not serve it --------------------------------------------------------------------------


def test_base_url_without_v1_is_recognised(fault_server):  # noqa: F811
    root = fault_server.url.removesuffix("/v1")
    spec = ModelSpec(name="rootless", provider="custom", base_url=root, model="ok", max_retries=0)
    with pytest.raises(NotFoundError) as info:
        get_backend("openai").chat(spec, ChatRequest("hi", [load_image(IMAGE)]))
    message = str(info.value)
    assert f"base_url {root} is missing /v1 — set it to the API root, e.g. {root}/v1" in message
    assert "model id" not in message and "does not serve" not in message


def test_unknown_model_says_the_server_does_not_serve_it(fault_server):  # noqa: F811
    spec = ModelSpec(name="typo", provider="custom", base_url=fault_server.url, model="404", max_retries=0)
    with pytest.raises(NotFoundError) as info:
        get_backend("openai").chat(spec, ChatRequest("hi", [load_image(IMAGE)]))
    assert (f"the server at {fault_server.url} does not serve it; GET {fault_server.url}/models lists what it does"
            in str(info.value))


# --- after a CLI batch: the failures by kind ---------------------------------------------------------------


def _batch(tmp_path, server, model: str) -> list[str]:
    folder = tmp_path / "imgs"
    make_images(folder, 2)
    (folder / "scan.jpg").write_bytes(b"%PDF-1.4 a document, not a photo")
    return ["batch", "--path", str(folder), "--task", "ask", "--api-base", server.url, "--model", model,
            "--db", str(tmp_path / "wb.db"), "--no-progress", "--workers", "1"]


def test_failure_kinds_without_retry_when_no_retry_can_fix_them(tmp_path, fault_server, capsys):  # noqa: F811
    assert main(_batch(tmp_path, fault_server, "404")) == 3
    err = capsys.readouterr().err
    lines = [line.strip() for line in err.splitlines()]
    assert "workbench: 3 items failed:" in lines
    not_found = next(line for line in lines if line.startswith("not_found ×2 — "))
    assert f"does not serve it; GET {fault_server.url}/models lists what it does" in not_found
    assert any(line.startswith("image_error ×1 — ") and "PDF" in line for line in lines)
    assert "workbench retry" not in err and "a retry alone cannot fix these" in err


def test_failure_kinds_suggest_retry_for_what_a_retry_can_fix(tmp_path, fault_server, capsys):  # noqa: F811
    code = main(_batch(tmp_path, fault_server, "html"))
    err = capsys.readouterr().err
    assert code == 3
    assert any(line.strip().startswith("protocol_error ×2 — ") for line in err.splitlines())
    assert "re-sends the 2 failures a retry can fix (protocol_error)" in err  # not the PDF


# --- a labels CSV without its columns ----------------------------------------------------------------------


def _labels(tmp_path, header: list[str]) -> str:
    path = tmp_path / "labels.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([header, ["img0000.png", "yes"]])
    return str(path)


@pytest.mark.parametrize("header, missing", [(["file", "verdict"], "label"), (["picture", "label"], "image")])
def test_labels_csv_without_its_columns_lists_the_accepted_names(tmp_path, fault_server, header, missing):  # noqa: F811
    make_images(tmp_path / "imgs", 1)
    spec = ModelSpec(name="served", provider="custom", base_url=fault_server.url, model="ok")
    with pytest.raises(ConfigError) as info:
        run_batch(tmp_path / "imgs", "ask", [spec], labels=_labels(tmp_path, header), db=tmp_path / "wb.db",
                  progress=False)
    message = str(info.value)
    assert f"has no {missing} column (its columns: {', '.join(header)})" in message
    assert "one of path, file, image, filename and the expected answer column `label`" in message
    assert fault_server.calls_for("ok") == 0  # refused before any call


def test_cli_refuses_labels_without_a_label_column(tmp_path, fault_server, capsys):  # noqa: F811
    make_images(tmp_path / "imgs", 1)
    code = main(["batch", "--path", str(tmp_path / "imgs"), "--task", "ask", "--api-base", fault_server.url,
                 "--model", "ok", "--labels", _labels(tmp_path, ["file", "class"]), "--db", str(tmp_path / "wb.db"),
                 "--no-progress"])
    assert code == 2 and "has no label column" in capsys.readouterr().err


# --- adding a model in the app -----------------------------------------------------------------------------


def test_added_model_with_a_typo_is_refused_with_the_served_ids(fault_server):  # noqa: F811
    with pytest.raises(gr.Error) as info:
        add_custom_model([], "mine", fault_server.url, "stream-okk", "", [])
    message = info.value.message
    assert message.startswith(f"'stream-okk' is not served at {fault_server.url}; it serves: 400, 401, ")
    assert message.endswith("Did you mean 'stream-ok'?")


def test_added_model_the_server_lists_is_accepted(fault_server):  # noqa: F811
    extra = add_custom_model([], "mine", fault_server.url, "stream-ok", "", [])
    assert [e["model"] for e in extra] == ["stream-ok"]


def test_added_base_url_without_scheme_is_refused_with_an_example():
    with pytest.raises(gr.Error) as info:
        add_custom_model([], "mine", "localhost:8000", "qwen", "", [])
    assert info.value.message == ("The Base URL 'localhost:8000' must start with http:// or https:// — e.g. "
                                  "http://localhost:8000/v1")


def test_added_base_url_without_v1_is_refused(fault_server):  # noqa: F811
    root = fault_server.url.removesuffix("/v1")
    with pytest.raises(gr.Error) as info:
        add_custom_model([], "mine", root, "ok", "", [])
    assert f"The Base URL {root} is missing /v1" in info.value.message and f"try {root}/v1" in info.value.message


def test_added_model_on_a_silent_server_is_accepted_with_a_note():
    url = closed_port_url()
    with pytest.warns(UserWarning, match="Added without checking the Model id"):
        extra = add_custom_model([], "later", url, "qwen", "", [])
    assert [e["base_url"] for e in extra] == [url]


# --- no labels to score against ----------------------------------------------------------------------------


@pytest.fixture
def unlabelled_run(tmp_path, fault_server):  # noqa: F811
    make_images(tmp_path / "imgs", 2)
    run = run_batch(str(tmp_path / "imgs"), "pothole_severity",
                    [ModelSpec(name="srv", provider="custom", base_url=fault_server.url, model="ok")],
                    db=tmp_path / "wb.db", progress=False)
    return run


def test_python_recommend_without_labels_names_the_labels_argument(unlabelled_run):
    from workbench import recommend
    from workbench.errors import MissingLabels

    with pytest.raises(MissingLabels, match=r"pass labels="):
        recommend(unlabelled_run.run_id, "accuracy>=0.9", db=unlabelled_run.db)


def test_cli_recommend_without_labels_names_the_labels_flag(unlabelled_run, capsys):
    code = main(["recommend", unlabelled_run.run_id, "--bar", "accuracy>=0.9", "--db", str(unlabelled_run.db)])
    err = capsys.readouterr().err
    assert code == 2 and "no labelled results in these runs — pass --labels FILE.csv" in err
    assert "labels=" not in err.replace("--labels", "")


def test_app_recommend_without_labels_names_the_label_tab(unlabelled_run, monkeypatch):
    from workbench.ui.recommend_section import recommend_for_run

    monkeypatch.setenv("WORKBENCH_DB", str(unlabelled_run.db))
    with pytest.raises(gr.Error) as info:
        recommend_for_run(unlabelled_run.run_id, "accuracy>=0.9")
    assert "label some images in the Label tab" in info.value.message and "labels=" not in info.value.message
