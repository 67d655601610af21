"""VLM Workbench app: one image, one task, any number of models, side by side.

    python app.py                      # http://127.0.0.1:7860
    python app.py --share              # a public link for stakeholders
    WORKBENCH_AUTH=user:password python app.py --host 0.0.0.0
"""
from __future__ import annotations

import argparse
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import gradio as gr

from workbench import (PROVIDERS, TASKS, ConfigError, ImageError, ModelSpec, cards_html, format_usd,
                       get_task, load_image, load_models, preview_costs, result_card, results_html, run_model,
                       running_card)
from workbench.ui.batch_tab import build_batch_tab
from workbench.ui.fields import model_choices, task_fields
from workbench.ui.history_tab import build_history_tab

SAMPLES = Path(__file__).with_name("sample_images")
MAX_UPLOAD = "25mb"
TABLE_COLUMNS = ("model", "status", "label", "latency_s", "time_to_first_token_s", "input_tokens", "output_tokens",
                 "cost", "cost_source", "error_type", "error", "finish_reason", "model_id", "image_hash",
                 "prompt_hash")


class ImageUpload(gr.Image):
    """gr.Image that hands over the uploaded file untouched: workbench.load_image checks it (size cap, formats)
    before anything is decoded. gr.Image's own preprocessing opens files and decodes data: URLs itself."""

    def get_block_name(self) -> str:
        return "image"  # same front end as gr.Image

    def preprocess(self, payload):
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            raise gr.Error("Send the image as a file upload, not as a data: URL.")
        return payload.path


def key_variables(catalog: list[ModelSpec]) -> list[str]:
    """Every key the models file or a provider preset names: each gets a password box."""
    return sorted({p.key_env for p in PROVIDERS.values() if p.key_env} |
                  {s.resolved_key_env for s in catalog if s.resolved_key_env})


def set_key(keys: dict, env_var: str, value: str) -> dict:
    keys = dict(keys or {})
    if value and value.strip():
        keys[env_var] = value.strip()
    else:
        keys.pop(env_var, None)
    return keys


def add_custom_model(extra: list, name: str, base_url: str, model_id: str, key_env: str, catalog: list):
    if not (base_url and model_id):
        raise gr.Error("A custom model needs a base URL (ending in /v1) and a model id.")
    name = (name or f"{model_id} (custom)").strip()
    try:
        spec = ModelSpec(name=name, provider="custom", base_url=base_url.strip(), model=model_id.strip(),
                         key_env=(key_env or "").strip() or None)
    except ValueError as e:
        raise gr.Error(f"That model entry is invalid: {e}") from None
    if name in {s.name for s in catalog} | {s["name"] for s in extra}:
        raise gr.Error(f"A model called {name!r} already exists — choose another name.")
    return [*extra, spec.model_dump()]


def _session_specs(catalog: list[ModelSpec], extra: list[dict]) -> list[ModelSpec]:
    return [*catalog, *(ModelSpec(**e) for e in extra or [])]


def cost_preview(image_path, model_names, prompt, max_edge, detail, extra, catalog: list[ModelSpec]):
    """Estimated tokens and cost per call and per 1,000 images for the ticked models, before anything runs."""
    import pandas as pd

    by_name = {s.name: s for s in _session_specs(catalog, extra)}
    specs = [by_name[n] for n in model_names or [] if n in by_name]
    if not image_path or not specs:
        return pd.DataFrame()
    try:
        frame = preview_costs(image_path, specs, prompt=prompt or "", max_edge=int(max_edge), detail=detail)
    except (ImageError, ConfigError):
        return pd.DataFrame()
    for column in ("cost_per_call", "cost_per_1k", "batch_cost_per_1k"):
        frame[column] = [format_usd(None if pd.isna(v) else v) for v in frame[column]]
    frame["image_tokens"] = [("unknown" if pd.isna(v) else f"{int(v):,}") for v in frame["image_tokens"]]
    return frame[["model", "sent_size", "image_tokens", "cost_per_call", "cost_per_1k", "batch_cost_per_1k",
                  "rule", "price_source"]]


def run_comparison(image_path, task_name, prompt, variable, model_names, keys, extra, max_tokens, max_edge,
                   detail, mode, catalog: list[ModelSpec]):
    """Generator: yields the cards as text streams in, then the final cards and the results table."""
    if not image_path:
        raise gr.Error("Upload an image or pick a sample first.")
    if not model_names:
        raise gr.Error("Tick at least one model.")
    task = get_task(task_name)
    variables = {task.variables[0]: variable} if task.variables else {}
    try:
        image = load_image(image_path)
        task.render(prompt, variables)
    except (ImageError, ConfigError) as e:
        raise gr.Error(str(e)) from None
    by_name = {s.name: s for s in _session_specs(catalog, extra)}
    specs = [by_name[n] for n in model_names if n in by_name]
    live: dict[str, str] = {s.name: "" for s in specs}
    lock = threading.Lock()

    def stream_into(name):
        def on_text(text):
            with lock:
                live[name] = text
        return on_text

    options = dict(prompt=prompt, variables=variables, keys=keys, max_tokens=int(max_tokens),
                   max_edge=int(max_edge) if max_edge else None, detail=detail, mode=mode or "generate")
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        futures = {s.name: pool.submit(run_model, image, task, s, on_text=stream_into(s.name), **options)
                   for s in specs}
        while not all(f.done() for f in futures.values()):
            with lock:
                cards = [result_card(futures[n].result()) if futures[n].done() else running_card(n, live[n])
                         for n in futures]
            yield cards_html(cards), gr.skip()
            time.sleep(0.2)
    results = [futures[s.name].result() for s in specs]
    import pandas as pd

    table = pd.DataFrame([{k: r.to_row()[k] for k in TABLE_COLUMNS} for r in results])
    estimate = cost_preview(image_path, model_names, prompt, max_edge or 1536, detail, extra, catalog)
    if not estimate.empty:  # estimate next to actual, so a wrong price or token rule shows at once
        table.insert(table.columns.get_loc("cost") + 1, "estimated_cost",
                     table["model"].map(dict(zip(estimate["model"], estimate["cost_per_call"]))))
    table["cost"] = [format_usd(None if pd.isna(v) else v) for v in table["cost"]]
    table = table.round({"latency_s": 3, "time_to_first_token_s": 3})
    yield results_html(results), table


def build_demo(catalog: list[ModelSpec] | None = None) -> gr.Blocks:
    catalog = list(catalog if catalog is not None else load_models())
    samples = sorted(str(p) for p in SAMPLES.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    with gr.Blocks(title="VLM Workbench") as demo:
        keys = gr.State({})
        extra = gr.State([])
        gr.Markdown("# VLM Workbench\nWhich vision-language model, with which prompt, does your image task best "
                    "— at what cost and speed? Upload an image, pick a task and models, and compare.")
        with gr.Tab("Compare"):
            with gr.Row():
                with gr.Column(scale=1):
                    image = ImageUpload(type="filepath", label="Image", sources=["upload", "clipboard"], height=300)
                    if samples:
                        gr.Examples(samples, inputs=image, label="Sample images", examples_per_page=12)
                    task = gr.Dropdown([(t.title, t.name) for t in TASKS.values()], value="pothole_severity",
                                       label="Task")
                    variable = gr.Textbox(label="Tag", visible=False, placeholder="e.g. pothole")
                    prompt = gr.Textbox(TASKS["pothole_severity"].prompt, label="Prompt (editable)", lines=8)
                    with gr.Accordion("Settings", open=False):
                        max_tokens = gr.Slider(16, 2048, value=512, step=16, label="Max new tokens")
                        max_edge = gr.Slider(256, 2048, value=1536, step=64, label="Max long edge sent (px)")
                        detail = gr.Radio(["auto", "low", "high"], value="auto", label="Image detail (OpenAI)")
                    mode = gr.Radio([("Generate an answer", "generate"),
                                     ("Score every label (probabilities)", "score")], value="generate", label="Mode")
                with gr.Column(scale=2):
                    choices = model_choices(catalog, {})
                    models = gr.CheckboxGroup(choices, value=[s.name for s in catalog if s.selected], label="Models")
                    refresh = gr.Button("Check models", size="sm")
                    costs = gr.Dataframe(label="Estimated cost (≈100 output tokens; updates with image, models, "
                                               "max edge and detail)", interactive=False)
                    with gr.Accordion("API keys (kept for this browser session only)", open=False):
                        key_boxes = {var: gr.Textbox(label=var, type="password", placeholder="not stored anywhere")
                                     for var in key_variables(catalog)}
                    with gr.Accordion("Add an OpenAI-compatible model (vLLM, Ollama, LocalAI, LM Studio, …)",
                                      open=False):
                        c_name = gr.Textbox(label="Display name")
                        c_url = gr.Textbox(label="Base URL", placeholder="http://localhost:8000/v1")
                        c_model = gr.Textbox(label="Model id", placeholder="Qwen/Qwen2.5-VL-7B-Instruct")
                        c_key = gr.Textbox(label="Key variable (optional)", placeholder="MY_SERVER_API_KEY")
                        c_add = gr.Button("Add model", size="sm")
                    run = gr.Button("Run", variant="primary")
                    cards = gr.HTML(label="Results")
                    table = gr.Dataframe(label="Results table", interactive=False, wrap=True)

            task.change(task_fields, task, [prompt, variable], api_visibility="private")
            preview_inputs = [image, models, prompt, max_edge, detail, extra]
            for trigger in (image.change, models.change, max_edge.release, detail.change, prompt.blur, task.change):
                trigger(partial(cost_preview, catalog=catalog), preview_inputs, costs, api_visibility="private",
                        show_progress="hidden")

            def refresh_models(keys_now, extra_now, ticked):
                specs = _session_specs(catalog, extra_now)
                return gr.update(choices=model_choices(specs, keys_now), value=ticked)

            for var, box in key_boxes.items():
                box.change(lambda k, v, var=var: set_key(k, var, v), [keys, box], keys, api_visibility="private")
            refresh.click(refresh_models, [keys, extra, models], models, api_visibility="private")
            c_add.click(lambda *a: add_custom_model(*a, catalog), [extra, c_name, c_url, c_model, c_key], extra,
                        api_visibility="private").then(
                lambda k, e, t: refresh_models(k, e, [*t, e[-1]["name"]]), [keys, extra, models], models,
                api_visibility="private")
            run.click(partial(run_comparison, catalog=catalog),
                      [image, task, prompt, variable, models, keys, extra, max_tokens, max_edge, detail, mode],
                      [cards, table], api_name="compare", concurrency_id="models", concurrency_limit=4)
        build_batch_tab(catalog, keys)
        build_history_tab()
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="VLM Workbench: compare vision-language models on an image.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--models", help="models file (TOML); default: ./models.toml or the built-in list")
    args = parser.parse_args(argv)
    if args.models:
        os.environ["WORKBENCH_MODELS"] = args.models
    auth = os.environ.get("WORKBENCH_AUTH")
    if auth and ":" not in auth:
        parser.error("WORKBENCH_AUTH must look like user:password")
    demo = build_demo()
    demo.queue(max_size=64, default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                auth=tuple(auth.split(":", 1)) if auth else None, show_error=True, max_file_size=MAX_UPLOAD,
                run_history=False)


if __name__ == "__main__":
    main()
