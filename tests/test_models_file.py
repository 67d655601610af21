import pytest

from workbench import ConfigError
from workbench.models import DEFAULT_LOCAL_MODEL, ModelSpec, default_models, load_models, resolve_models


def test_defaults_include_the_seed_models():
    ids = {s.model for s in default_models()}
    assert {DEFAULT_LOCAL_MODEL, "mistralai/pixtral-12b", "gpt-4o-mini", "gpt-4o", "llava:7b"} <= ids
    assert any(s.provider == "vllm" for s in default_models())
    assert any(s.quantization == "4bit" for s in default_models())


def test_presets_resolve_url_and_key():
    spec = ModelSpec(name="p", provider="openrouter", model="mistralai/pixtral-12b")
    assert spec.resolved_base_url.endswith("/api/v1") and spec.resolved_key_env == "OPENROUTER_API_KEY"
    custom = ModelSpec(name="c", provider="custom", base_url="http://127.0.0.1:9/v1", model="m", key_env="MY_KEY")
    assert custom.resolved_base_url == "http://127.0.0.1:9/v1" and not custom.is_local  # may be a paid proxy
    assert ModelSpec(name="o", provider="ollama", model="llava:7b").is_local
    assert custom.model_copy(update={"local": True}).is_local


def test_models_file_and_env_override(tmp_path, monkeypatch):
    path = tmp_path / "models.toml"
    path.write_text('[[models]]\nname = "local"\nbackend = "transformers"\nmodel = "%s"\nselected = true\n'
                    '[[models]]\nname = "or"\nprovider = "openrouter"\nmodel = "x/y"\n'
                    'price = { input_per_m = 1.0, output_per_m = 2.0 }\n' % DEFAULT_LOCAL_MODEL)
    monkeypatch.setenv("WORKBENCH_MODELS", str(path))
    monkeypatch.setenv("WORKBENCH_LOCAL_MODEL", "/models/tiny")
    specs = load_models()
    assert [s.name for s in specs] == ["local", "or"]
    assert specs[0].model == "/models/tiny"
    assert specs[1].price.input_per_m == 1.0
    assert [s.name for s in resolve_models(None, specs)] == ["local"]


@pytest.mark.parametrize("body, words", [
    ('[[models]]\nname = "a"\nmodel = "m"\nbackend = "openai"\ncolour = "red"\n', ["colour"]),
    ('[[models]]\nname = "a"\nmodel = "m"\nprovider = "acme"\n', ["acme", "openrouter"]),
    ('[[models]]\nname = "a"\nmodel = "m"\n[[models]]\nname = "a"\nmodel = "n"\n', ["unique"]),
    ('[[models]\nname = "a"', ["TOML"]),
])
def test_bad_models_file_says_what_is_wrong(tmp_path, body, words):
    path = tmp_path / "models.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_models(path)
    for word in words:
        assert word in str(err.value)


def test_unknown_model_name_lists_choices():
    with pytest.raises(ConfigError, match="GPT-4o"):
        resolve_models(["no such model"], list(default_models()))


@pytest.mark.parametrize("body, words", [
    ('[[models]]\nname = "a"\nmodel = "m"\nprovdier = "openai"\n',
     ["line 4", "unknown key 'provdier'", "did you mean 'provider'?"]),
    ('[[models]]\nname = "a"\nmodel = "m"\n\n[[model]]\nname = "b"\nmodel = "n"\n',
     ["line 5", "'model'", "did you mean 'models'?", "[[models]]"]),
    ('[[model]]\nname = "a"\nmodel = "m"\n', ["line 1", "did you mean 'models'?"]),
    ('# nothing here yet\n', ["has no models", "[[models]]"]),
])
def test_a_typo_in_the_models_file_names_the_line_and_the_nearest_key(tmp_path, body, words):
    path = tmp_path / "models.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_models(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


def test_an_unknown_model_never_points_at_the_packages_own_models_file(monkeypatch, tmp_path):
    from workbench.models import DEFAULT_MODELS_FILE

    monkeypatch.delenv("WORKBENCH_MODELS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./models.toml: the built-in list is in use
    with pytest.raises(ConfigError) as err:
        resolve_models(["no such model"])
    assert str(DEFAULT_MODELS_FILE) not in str(err.value) and "models.toml of your own" in str(err.value)


def test_defaults_include_claude_and_gemini_through_their_openai_endpoints():
    by_provider = {s.provider: s for s in default_models()}
    claude, gemini = by_provider["anthropic"], by_provider["gemini"]
    assert claude.resolved_key_env == "ANTHROPIC_API_KEY" and "api.anthropic.com" in claude.resolved_base_url
    assert gemini.resolved_key_env == "GEMINI_API_KEY" and gemini.resolved_base_url.endswith("/openai/")
    assert not claude.is_local and not gemini.is_local
    # Declared from the providers' compatibility docs: Anthropic ignores response_format and logprobs.
    assert (claude.preset.json_schema, claude.preset.logprobs, claude.preset.reports_cost) == (False, False, False)
    assert (gemini.preset.json_schema, gemini.preset.reports_cost) == (True, False)


@pytest.mark.parametrize("provider, env", [("anthropic", "ANTHROPIC_API_KEY"), ("gemini", "GEMINI_API_KEY")])
def test_claude_and_gemini_wait_for_their_key(monkeypatch, provider, env):
    from workbench.backends.openai_compat import OpenAICompatible

    monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr("workbench.keys._load_dotenv", lambda: None)  # a developer's .env must not leak in
    spec = next(s for s in default_models() if s.provider == provider)
    status = OpenAICompatible().availability(spec)
    assert status.status == "key_missing"
    assert status.message == f"{spec.name} needs {env} — set {env} in the environment or .env"
    assert OpenAICompatible().availability(spec, {env: "k-test"}).ready


def test_the_app_refuses_to_start_on_a_models_file_typo_with_the_same_message(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "models.toml"
    path.write_text('[[model]]\nname = "a"\nmodel = "m"\n')
    app = Path(__file__).resolve().parents[1] / "app.py"
    done = subprocess.run([sys.executable, str(app), "--models", str(path), "--port", "0"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "line 1" in done.stderr and "did you mean 'models'?" in done.stderr and "Traceback" not in done.stderr


def test_the_cli_exits_2_on_a_models_file_typo(tmp_path, capsys):
    from workbench.cli import main

    path = tmp_path / "models.toml"
    path.write_text('[[models]]\nname = "a"\nmodel = "m"\nprovdier = "x"\n')
    assert main(["models", "--models-file", str(path)]) == 2
    assert "did you mean 'provider'?" in capsys.readouterr().err
