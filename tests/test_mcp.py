"""Agents over MCP: `python app.py --mcp` started as a user starts it, its tools read from the MCP schema endpoint,
and called through the `mcp` package's client over streamable HTTP against a tiny local model — structured results,
the availability of every model, the costs the workbench computes, and images an agent may and may not send."""
from __future__ import annotations

import asyncio
import base64
import io
import json
from pathlib import Path

import httpx
import pytest

from .app_process import start_app, stop_app

ROOT = Path(__file__).resolve().parents[1]
TOOLS = {"compare_models", "score_labels", "estimate_cost", "list_models"}
pytestmark = pytest.mark.slow  # one app process with a local model, and MCP sessions: about 30 s on 2 cores


@pytest.fixture(scope="module")
def mcp_app(tmp_path_factory, tiny_llava_dir):
    work = tmp_path_factory.mktemp("mcp-app")
    proc, url, log = start_app(work, f"""
[[models]]
name = "tiny llava"
backend = "transformers"
model = "{tiny_llava_dir}"
selected = true

[[models]]
name = "SmolVLM-256M (local)"
backend = "transformers"
model = "HuggingFaceTB/SmolVLM-256M-Instruct"

[[models]]
name = "GPT-4o mini (OpenAI)"
provider = "openai"
model = "gpt-4o-mini"
""", drop=("OPENAI_API_KEY",), env={"WORKBENCH_DB": str(work / "wb.db")}, args=("--mcp",), timeout_s=120)
    yield {"url": url, "log": log}
    stop_app(proc)


def _call(url: str, tool: str, arguments: dict):
    """One MCP session: initialize, call `tool`, return (the tool list, the call's result)."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    async def go():
        async with streamablehttp_client(url + "gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                return tools, await session.call_tool(tool, arguments)

    return asyncio.run(asyncio.wait_for(go(), timeout=180))


def _payload(result) -> dict:
    assert not result.isError, result.content
    texts = [c.text for c in result.content if c.type == "text"]
    assert len(texts) == 1, result.content
    return json.loads(texts[0])


def _png_data_url() -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.open(ROOT / "sample_images" / "road_pothole_severe.jpg").convert("RGB").resize((96, 64)).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_the_schema_endpoint_lists_exactly_the_four_tools_each_described_for_an_agent(mcp_app):
    schema = httpx.get(mcp_app["url"] + "gradio_api/mcp/schema", timeout=30).json()
    tools = {t["name"]: t for t in schema}
    assert set(tools) == TOOLS  # the app's other endpoints (/compare, /batch, /set_key, ...) are not tools
    for name, tool in tools.items():
        assert len(tool["description"]) > 80, name
        for arg, spec in tool["inputSchema"].get("properties", {}).items():
            assert len(spec.get("description", "")) > 20, f"{name}.{arg} has no description"
    assert "base64" in tools["compare_models"]["inputSchema"]["properties"]["image"]["description"]
    assert tools["score_labels"]["inputSchema"]["required"] == ["image", "task"]
    # hidden, not removed: a gradio_client user still finds /compare among all endpoints
    every = httpx.get(mcp_app["url"] + "gradio_api/info?all_endpoints=true", timeout=30).json()
    assert "/compare" in every["named_endpoints"] and "/set_key" in every["named_endpoints"]


def test_list_models_says_which_models_can_answer_and_why_not(mcp_app):
    tools, result = _call(mcp_app["url"], "list_models", {})
    assert {t.name for t in tools.tools} == TOOLS
    listed = _payload(result)
    models = {m["name"]: m for m in listed["models"]}
    assert models["tiny llava"]["status"] == "ready" and models["tiny llava"]["local"] is True
    assert models["SmolVLM-256M (local)"]["status"] == "unavailable"
    assert "offline and not downloaded" in models["SmolVLM-256M (local)"]["message"]
    assert models["GPT-4o mini (OpenAI)"]["status"] == "key_missing"
    assert "OPENAI_API_KEY" in models["GPT-4o mini (OpenAI)"]["message"]
    tasks = {t["name"]: t for t in listed["tasks"]}
    assert "severe" in tasks["pothole_severity"]["labels"] and tasks["ask"]["labels"] == []
    assert "sample_images/road_pothole_severe.jpg" in listed["sample_images"]


def test_compare_models_runs_a_tiny_local_model_on_a_base64_image(mcp_app):
    from workbench.results import STATUSES

    _, result = _call(mcp_app["url"], "compare_models", {
        "image": _png_data_url(), "task": "pothole_severity",
        "models": ["tiny llava", "GPT-4o mini (OpenAI)"], "max_tokens": 16})
    answer = _payload(result)
    assert answer["task"] == "pothole_severity" and answer["mode"] == "generate"
    local, hosted = answer["results"]
    assert local["model"] == "tiny llava" and local["status"] in STATUSES and local["status"] != "error", local
    assert local["output_tokens"] > 0 and local["latency_s"] > 0 and local["raw_text"]
    # one model without its key does not sink the call: it reports why
    assert hosted["status"] == "error" and hosted["error_type"] == "key_missing" and hosted["cost_usd"] is None


def test_a_sample_path_works_and_a_path_outside_the_allowed_folders_is_refused(mcp_app):
    _, result = _call(mcp_app["url"], "score_labels", {
        "image": "sample_images/road_pothole_severe.jpg", "task": "pothole_severity", "models": ["tiny llava"]})
    scored = _payload(result)
    assert scored["mode"] == "score"
    (local,) = scored["results"]
    assert local["model"] == "tiny llava" and local["status"] == "ok", local
    assert set(local["probabilities"]) == {"no_pothole", "minor", "moderate", "severe"}
    assert sum(local["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert local["label"] == max(local["probabilities"], key=local["probabilities"].get)
    _, refused = _call(mcp_app["url"], "compare_models", {"image": str(ROOT / "app.py"), "models": ["tiny llava"]})
    assert refused.isError and "not an image this server may read" in refused.content[0].text


def test_estimate_cost_matches_the_workbench_preview_and_calls_nothing(mcp_app):
    from workbench import load_models
    from workbench.cost_preview import costs_for_size

    _, result = _call(mcp_app["url"], "estimate_cost", {
        "models": ["GPT-4o mini (OpenAI)", "tiny llava"], "width": 1600, "height": 1200, "output_tokens": 80})
    rows = {r["model"]: r for r in _payload(result)["models"]}
    hosted = rows["GPT-4o mini (OpenAI)"]
    spec = [s for s in load_models(ROOT / "workbench" / "default_models.toml") if s.model == "gpt-4o-mini"]
    expected = costs_for_size(1600, 1200, spec, prompt="x" * 400, output_tokens=80)[0]
    assert hosted["cost_per_1k_usd"] == pytest.approx(expected["cost_per_1k"]) and hosted["cost_per_1k_usd"] > 0
    assert hosted["cost_per_1k_usd"] == pytest.approx(1000 * hosted["cost_per_call_usd"])
    assert hosted["image_tokens"] == expected["image_tokens"] and hosted["sent_size"] == expected["sent_size"]
    assert rows["tiny llava"]["cost_per_1k_usd"] in (0, None)  # local: $0 per token, or unknown — never invented


def test_an_agent_cannot_make_the_server_fetch_a_loopback_url_or_read_its_files():
    import gradio as gr

    from workbench.ui.mcp_tools import image_from_agent

    with pytest.raises(gr.Error, match="could not fetch"):
        image_from_agent("http://127.0.0.1:9/secret.png")  # Gradio's SSRF guard: private and loopback refused
    for path in ("/etc/passwd", "sample_images/../app.py", "../README.md"):
        with pytest.raises(gr.Error, match="not an image this server may read"):
            image_from_agent(path)
    assert image_from_agent("sample_images/road_pothole_severe.jpg").endswith("road_pothole_severe.jpg")
