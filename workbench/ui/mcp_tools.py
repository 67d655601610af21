"""The workbench as MCP tools for agents (`python app.py --mcp`): compare one image across models, score a task's
labels, estimate the cost per 1,000 images, list the models and tasks. Gradio's MCP server turns each public
endpoint into a tool named after its function, described by its docstring (one line per argument: Gradio reads
"name: description" lines under "Args:"), so `expose_only_tools` makes every other endpoint of the app undocumented:
still callable by gradio_client, absent from the API page and from the MCP tool list.

No `from __future__ import annotations` here: `gr.api` reads the type hints (and the return hint) as objects to
build each tool's JSON schema."""
import base64
import binascii
import json
import math
import os
from pathlib import Path
from typing import Any, Optional

import gradio as gr

from ..calls import availability
from ..comparison import compare_results
from ..cost_preview import costs_for_size
from ..errors import WorkbenchError
from ..images import load_image
from ..models import ModelSpec, resolve_models
from ..backends.registry import get_backend
from ..tasks import TASKS, get_task
from ..wording import error_message, reworded

TOOL_NAMES = ("compare_models", "score_labels", "estimate_cost", "list_models")
MAX_IMAGE_BYTES = 25 * 2**20  # the app's upload limit (app.py MAX_UPLOAD)
SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"
SURFACE = "python"  # the agent passes arguments named as in Python (`variables`, `models`)


def image_dirs() -> list[Path]:
    """Folders an agent may name image paths in: the sample images, and WORKBENCH_MCP_IMAGE_DIRS (os.pathsep list).
    Anything else on the server's disk stays unreadable to a remote agent."""
    extra = [Path(p).resolve() for p in os.environ.get("WORKBENCH_MCP_IMAGE_DIRS", "").split(os.pathsep) if p]
    return [SAMPLES, *extra]


def image_from_agent(image: str):
    """An image given as text by an agent → what `load_image` takes: a data URL or bare base64 (decoded), an
    http(s) URL (fetched the way Gradio fetches URLs: public hosts only), or a path inside `image_dirs()`."""
    text = (image or "").strip()
    if not text:
        raise gr.Error("image is empty — pass an http(s) URL, a data:image/...;base64 URL, or a path from "
                       "list_models' sample_images")
    if text.startswith(("http://", "https://")):
        from gradio.processing_utils import ssrf_protected_download

        try:
            path = ssrf_protected_download(text, os.environ.get("GRADIO_TEMP_DIR") or "/tmp/gradio")
        except Exception as e:  # noqa: BLE001 — a private address, a 404, a dropped connection: say which
            raise gr.Error(f"could not fetch {text}: {e}") from None
        return _checked_size(Path(path).read_bytes(), text)
    if text.startswith("data:") or len(text) > 256:
        payload = text.split(",", 1)[1] if text.startswith("data:") else text
        try:
            return _checked_size(base64.b64decode(payload, validate=True), "the base64 image")
        except (binascii.Error, ValueError):
            raise gr.Error("image looks like base64 but does not decode — send data:image/png;base64,<data>") \
                from None
    return _allowed_path(text)


def _checked_size(data: bytes, what: str) -> bytes:
    if len(data) > MAX_IMAGE_BYTES:
        raise gr.Error(f"{what} is {len(data) / 2**20:.0f} MB — the limit is {MAX_IMAGE_BYTES // 2**20} MB")
    return data


def _allowed_path(text: str) -> str:
    path = Path(text)
    candidates = [path] if path.is_absolute() else [d / path for d in image_dirs()] + [SAMPLES.parent / path]
    for candidate in candidates:
        resolved = candidate.resolve()
        if resolved.is_file() and any(resolved.is_relative_to(d) for d in image_dirs()):
            return str(resolved)
    raise gr.Error(f"{text!r} is not an image this server may read — pass an http(s) URL or base64, a sample image "
                   f"name from list_models, or a file under WORKBENCH_MCP_IMAGE_DIRS")


def _number(x: Any) -> Any:
    return None if isinstance(x, float) and math.isnan(x) else x


def _json(value: dict) -> str:
    """Tools answer JSON text: Gradio's MCP server sends a tool's return value as str(value), and an agent parses
    JSON, not a Python repr."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _result(result) -> dict:
    row = result.to_dict()
    keep = ("model", "model_id", "backend", "status", "label", "output", "probabilities", "expected_score",
            "raw_text", "finish_reason", "latency_s", "input_tokens", "output_tokens", "cost", "cost_source",
            "error_type", "error", "mode")
    out = {k: row[k] for k in keep}
    out["ok"] = result.ok
    out["cost_usd"] = out.pop("cost")
    out["error"] = reworded(out["error"], SURFACE)
    return out


class AgentTools:
    """The four tools, bound to the app's models file. Keys come from the server's environment (Space secrets):
    an agent cannot pass keys, and never sees them."""

    def __init__(self, catalog: list[ModelSpec]):
        self.catalog = list(catalog)

    def _specs(self, models: Optional[list[str]]) -> list[ModelSpec]:
        names = [m for m in (models or []) if m] or [s.name for s in self.catalog if s.selected]
        if not names:
            raise gr.Error("models is empty — pass model names from list_models")
        try:
            return resolve_models(names, self.catalog)
        except WorkbenchError as e:
            raise gr.Error(error_message(e, SURFACE)) from None

    def _run(self, image: str, task: str, models, mode: str, **options) -> dict:
        specs = self._specs(models)
        try:
            results = compare_results(load_image(image_from_agent(image)), task, specs, mode=mode, **options)
        except WorkbenchError as e:  # bad input: the task, its variables, the image, the mode
            raise gr.Error(error_message(e, SURFACE)) from None
        return {"task": get_task(task).name, "mode": mode, "results": [_result(r) for r in results]}

    def compare_models(self, image: str, task: str = "ask", models: Optional[list[str]] = None, prompt: str = "",
                       variables: Optional[dict[str, str]] = None, max_tokens: int = 256) -> str:
        """Run several vision-language models on one image for one task, concurrently, and return one record per model:
        the parsed answer, its verdict label, latency, tokens and cost, or that model's own error (one failing model
        never fails the call).

        Args:
            image: the image, as an http(s) URL of a public host, a data:image/png;base64,... URL (or bare base64), or the path of a sample image listed by list_models (e.g. sample_images/road_pothole_severe.jpg).
            task: a task name from list_models' "tasks" (moderation, pii_detection, tag_rating, pothole_severity, ask); "ask" answers a free question given in variables={"question": ...}.
            models: model names exactly as list_models returns them; only models whose status is "ready" can answer. Empty: the app's default selection.
            prompt: a prompt template replacing the task's own; leave empty to use the task's tested prompt. {variables} in it are filled from variables.
            variables: values for the task's prompt variables, e.g. {"tag": "beach"} for tag_rating or {"question": "What is shown?"} for ask; list_models gives each task's variables.
            max_tokens: the most new tokens each model may write (16-4096).

        Returns:
            a JSON object: {"task", "mode": "generate", "results": [{"model", "status" (ok, repaired, invalid_output, truncated, error, ...), "ok", "label", "output" (the task's JSON fields), "raw_text", "latency_s", "input_tokens", "output_tokens", "cost_usd" (null = unknown, never free), "error_type", "error"}]} in the order of models.
        """
        return _json(self._run(image, task, models, "generate", prompt=prompt or None,
                               variables=variables or None, max_tokens=max(16, min(int(max_tokens), 4096))))

    def score_labels(self, image: str, task: str, models: Optional[list[str]] = None,
                     variables: Optional[dict[str, str]] = None) -> str:
        """Score every allowed label of a classification task on one image: each model gives a probability per label
        from one forward pass (no text is generated), and the most likely label. Needs models that expose label
        probabilities (local transformers models; list_models says "score_mode": true).

        Args:
            image: the image, as an http(s) URL of a public host, a data:image/png;base64,... URL (or bare base64), or the path of a sample image listed by list_models.
            task: a task with labels, from list_models' "tasks" whose "labels" is not empty (moderation, pii_detection, tag_rating, pothole_severity).
            models: model names from list_models with "score_mode": true. Empty: the app's default selection.
            variables: values for the task's prompt variables, e.g. {"tag": "beach"} for tag_rating.

        Returns:
            a JSON object: {"task", "mode": "score", "results": [{"model", "status", "ok", "label" (the most likely), "probabilities" ({label: p}, summing to 1), "expected_score" (levelled tasks such as tag_rating), "latency_s", "error_type", "error"}]}; a model that cannot score returns status "error" with error_type "unsupported".
        """
        try:
            labels = get_task(task).labels
        except WorkbenchError as e:
            raise gr.Error(error_message(e, SURFACE)) from None
        if not labels:
            raise gr.Error(f"{task} has no labels to score — use a task whose labels list_models shows, or "
                           f"compare_models for free answers")
        return _json(self._run(image, task, models, "score", variables=variables or None, max_tokens=16))

    def estimate_cost(self, models: Optional[list[str]] = None, width: int = 1024, height: int = 768,
                      image: str = "", prompt_chars: int = 400, output_tokens: int = 100) -> str:
        """Estimate what each model costs for one image and per 1,000 images, from each provider's image-token rules
        and list prices, before anything is run. Nothing is called and nothing is spent.

        Args:
            models: model names from list_models. Empty: every model.
            width: the image width in pixels (ignored when image is given).
            height: the image height in pixels (ignored when image is given).
            image: optional; an image (URL, base64 or sample path, as in compare_models) whose size is used instead of width and height.
            prompt_chars: the prompt's length in characters (about 4 characters per token).
            output_tokens: the answer length assumed per image, in tokens.

        Returns:
            a JSON object: {"width", "height", "models": [{"model", "sent_size" (after the model's resizing), "image_tokens", "input_tokens", "cost_per_call_usd", "cost_per_1k_usd", "batch_cost_per_1k_usd" (via the provider's batch API), "price_source", "rule"}]}; a cost of null means unknown (no published price), and local models cost $0 per token.
        """
        if image:
            loaded = load_image(image_from_agent(image))
            width, height = loaded.width, loaded.height
        if not (0 < int(width) <= 100_000 and 0 < int(height) <= 100_000):
            raise gr.Error(f"width and height must be 1-100000 pixels, not {width}x{height}")
        specs = self._specs(models) if models else self.catalog
        rows = costs_for_size(int(width), int(height), specs, prompt="x" * max(0, int(prompt_chars)),
                              output_tokens=int(output_tokens))
        renamed = {"cost_per_call": "cost_per_call_usd", "cost_per_1k": "cost_per_1k_usd",
                   "batch_cost_per_1k": "batch_cost_per_1k_usd"}
        return _json({"width": width, "height": height,
                      "models": [{renamed.get(k, k): _number(v) for k, v in row.items()} for row in rows]})

    def list_models(self) -> str:
        """List the models this server can run and whether each can answer now, and the tasks they can be asked, so
        that compare_models, score_labels and estimate_cost get valid names.

        Returns:
            a JSON object: {"models": [{"name" (pass this to the other tools), "model_id", "backend", "provider", "local", "status" ("ready", "key_missing", "unavailable" such as offline and not downloaded, ...), "ready", "message" (why not, and the fix), "score_mode"}], "tasks": [{"name", "title", "description", "labels", "variables"}], "sample_images": [paths usable as image]}.
        """
        models = []
        for spec in self.catalog:
            status = availability(spec)
            models.append({"name": spec.name, "model_id": spec.model, "backend": spec.backend,
                           "provider": spec.provider, "local": spec.is_local, "status": status.status,
                           "ready": status.ready, "message": reworded(status.message, SURFACE) or "",
                           "score_mode": _scores(spec)})
        tasks = [{"name": t.name, "title": t.title, "description": t.description, "labels": list(t.labels),
                  "variables": list(t.variables)} for t in TASKS.values()]
        samples = sorted(f"sample_images/{p.name}" for p in SAMPLES.glob("*")
                         if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        return _json({"models": models, "tasks": tasks, "sample_images": samples})


def _scores(spec: ModelSpec) -> bool:
    try:
        return bool(get_backend(spec.backend).capabilities(spec).logprobs)
    except WorkbenchError:
        return False


def build_mcp_tools(catalog: list[ModelSpec]) -> AgentTools:
    """The tool endpoints; call inside `with demo:`. Each runs in the "models" concurrency group, as Compare does."""
    tools = AgentTools(catalog)
    for name in TOOL_NAMES:
        group = dict(concurrency_id="models", concurrency_limit=4) if name != "list_models" else {}
        gr.api(getattr(tools, name), api_name=name, **group)
    return tools


def expose_only_tools(demo: gr.Blocks, names: tuple[str, ...] = TOOL_NAMES) -> list[str]:
    """Make every public endpoint but `names` undocumented (callable by clients, not an MCP tool); returns those
    changed. Call after the whole app is built and before launch: the MCP server reads the API info at launch."""
    hidden = []
    for fn in demo.fns.values():
        if fn.api_visibility == "public" and fn.api_name not in names:
            fn.api_visibility = "undocumented"
            hidden.append(fn.api_name)
    return hidden
