"""The "Compare" tab: one image, one task, any number of models side by side, text streaming into their cards.

The models run through workbench.compare_stream, the same engine as `workbench.compare` and the playground."""
from __future__ import annotations

import difflib
from functools import partial

import gradio as gr

from .. import PROVIDERS, TASKS, ConfigError, ImageError, ModelSpec, format_usd, get_task, preview_costs
from ..cards import results_html, snapshot_html
from ..backends.served import served_models, with_version
from ..comparison import compare_stream
from ..keys import resolve_key
from ..tables import results_table, with_headers, without_empty_columns
from ..wording import error_message, reworded
from .access import current_user
from .fields import model_choices, refreshed_models, session_specs, task_fields
from .share_link import comparison_record, link_to_comparison, reveal, share_controls, wire_share
from .shared_view import comparison_table


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
    """The session's added models plus this one, once its Base URL is a URL and, when the server lists its
    models (GET …/models), the list has this Model id: a typo is refused here, not at the first call."""
    base_url, model_id, key_env = (base_url or "").strip(), (model_id or "").strip(), (key_env or "").strip()
    if not (base_url and model_id):
        raise gr.Error("A custom model needs a base URL (ending in /v1) and a model id: fill both boxes.")
    if not base_url.startswith(("http://", "https://")):
        raise gr.Error(f"The Base URL {base_url!r} must start with http:// or https:// — e.g. "
                       f"{with_version('http://' + base_url) or 'http://' + base_url}")
    name = (name or f"{model_id} (custom)").strip()
    try:
        spec = ModelSpec(name=name, provider="custom", base_url=base_url, model=model_id, key_env=key_env or None)
    except ValueError as e:
        raise gr.Error(f"That model entry is invalid: {e}") from None
    if name in {s.name for s in catalog} | {s["name"] for s in extra}:
        raise gr.Error(f"A model called {name!r} already exists — choose another name.")
    _check_served(base_url, model_id, resolve_key(key_env, {}) if key_env else None)
    return [*extra, spec.model_dump()]


def _check_served(base_url: str, model_id: str, key: str | None) -> None:
    """Refuses a Base URL without /v1 that the server does not answer at, and a Model id the server does not list;
    a server that does not list its models is accepted unchecked, with a note."""
    served = served_models(base_url, key)
    fixed = with_version(base_url)
    if served.ids is None and fixed and served.status is not None:
        raise gr.Error(f"The Base URL {base_url} is missing /v1: the server {served.reason} at "
                       f"{base_url.rstrip('/')}/models — try {fixed}")
    if served.ids is None:
        gr.Warning(f"Added without checking the Model id: the server did not list its models "
                   f"(GET {base_url.rstrip('/')}/models: {served.reason}).")
        return
    if model_id not in served.ids:
        close = difflib.get_close_matches(model_id, served.ids, n=1)  # the likeliest typo fix
        guess = f" Did you mean {close[0]!r}?" if close else ""
        listed = ", ".join(served.ids[:20]) + (f", … ({len(served.ids)} in all)" if len(served.ids) > 20 else "")
        raise gr.Error(f"{model_id!r} is not served at {base_url}; it serves: {listed or 'no models'} — put one "
                       f"of those in the Model id box.{guess}")


def sent_max_edge(slider) -> int | None:
    """The slider's value when the user moved it; at 0 (its start) each model's own max_edge from the models
    file is sent (else the default), as the notebooks send for the same entry."""
    return int(slider) if slider else None


def _estimated_costs(image_path, specs, prompt, max_edge, detail) -> dict[str, float | None]:
    """Model → cost per call estimated before it runs (NaN when unknown); {} when no estimate can be made."""
    try:
        frame = preview_costs(image_path, specs, prompt=prompt or "", max_edge=sent_max_edge(max_edge),
                              detail=detail)
    except (ImageError, ConfigError):
        return {}
    return dict(zip(frame["model"], frame["cost_per_call"]))


def cost_preview(image_path, model_names, prompt, max_edge, detail, extra, catalog: list[ModelSpec]):
    """Estimated tokens and cost per call and per 1,000 images for the ticked models, before anything runs."""
    import pandas as pd

    by_name = {s.name: s for s in session_specs(catalog, extra)}
    specs = [by_name[n] for n in model_names or [] if n in by_name]
    if not image_path or not specs:
        return pd.DataFrame()
    try:
        frame = preview_costs(image_path, specs, prompt=prompt or "", max_edge=sent_max_edge(max_edge),
                              detail=detail)
    except (ImageError, ConfigError):
        return pd.DataFrame()
    for column in ("cost_per_call", "cost_per_1k", "batch_cost_per_1k"):
        frame[column] = [format_usd(None if pd.isna(v) else v) for v in frame[column]]
    frame["image_tokens"] = [("unknown" if pd.isna(v) else f"{int(v):,}") for v in frame["image_tokens"]]
    shown = frame[["model", "sent_size", "image_tokens", "cost_per_call", "cost_per_1k", "batch_cost_per_1k",
                   "rule", "price_source"]]
    return shown.rename(columns=COST_HEADERS)


COST_HEADERS = {"sent_size": "sent size", "image_tokens": "image tokens", "cost_per_call": "per call",
                "cost_per_1k": "per 1,000 images", "batch_cost_per_1k": "per 1,000 (batch API)",
                "rule": "token rule", "price_source": "price from"}


def run_comparison(image_path, task_name, prompt, variable, model_names, keys, extra, max_tokens, max_edge,
                   detail, mode, reasoning_effort="none", *, catalog: list[ModelSpec]):
    """Generator: the cards as text streams in (the previous run's table cleared), then the final cards and the
    results table with the estimated cost beside the actual one."""
    for cards, table, _kept in compare_and_keep(image_path, task_name, prompt, variable, model_names, keys, extra,
                                                max_tokens, max_edge, detail, mode, reasoning_effort,
                                                catalog=catalog):
        yield cards, table


def compare_and_keep(image_path, task_name, prompt, variable, model_names, keys, extra, max_tokens, max_edge,
                     detail, mode, reasoning_effort="none", *, catalog: list[ModelSpec]):
    """run_comparison's steps, each with a third value: None while streaming, at the end the finished comparison
    as the Share link button stores it (share_link.comparison_record)."""
    if not image_path:
        raise gr.Error("Upload an image or pick a sample first.")
    if not model_names:
        raise gr.Error("Tick at least one model.")
    task = get_task(task_name)
    variables = {task.variables[0]: variable} if task.variables else {}
    by_name = {s.name: s for s in session_specs(catalog, extra)}
    specs = [by_name[n] for n in model_names if n in by_name]
    options = dict(prompt=prompt, variables=variables, keys=keys, max_tokens=int(max_tokens),
                   max_edge=sent_max_edge(max_edge), detail=detail, mode=mode or "generate",
                   reasoning_effort=None if reasoning_effort in (None, "", "none") else reasoning_effort)
    try:
        stream = compare_stream(image_path, task, specs, **options)
    except (ImageError, ConfigError) as e:
        raise gr.Error(error_message(e, "app")) from None
    empty = with_headers(without_empty_columns(results_table([])))  # the previous run's rows cleared
    snapshot = None
    for snapshot in stream:
        if not snapshot.done:
            yield reworded(snapshot_html(snapshot), "app"), empty, None
    results = snapshot.results
    estimated = _estimated_costs(image_path, specs, prompt, max_edge, detail)
    params = {k: options[k] for k in ("max_tokens", "max_edge", "detail", "mode", "reasoning_effort")}
    kept = comparison_record(results, image_path=image_path, task=task, prompt=prompt, variables=variables,
                             params=params, estimated=estimated)
    yield reworded(results_html(results), "app"), comparison_table(results, estimated), kept


COMPARE_API_DESCRIPTION = (
    "One image through several vision-language models on one task, side by side. Arguments, in order: the image "
    "file; the task (moderation, pii_detection, tag_rating, pothole_severity or ask); the prompt template, whose "
    "{variables} are filled in; the task's variable (the tag for tag_rating, the question for ask; empty for the "
    "others); the model names, as the Models box lists them; max new tokens; the long edge sent, in pixels; image "
    "detail (auto, low or high; OpenAI only); the mode (generate, or score for label probabilities); and the "
    "reasoning effort (none, low, medium or high; none sends nothing). Returns "
    "each model's card as HTML and a results table: model, status, label, latency (s), tokens in and out, cost "
    "(\"—\" when unknown) beside estimated cost, and for a failed model its error kind and an error that says what "
    "to fix. "
    "One failed model never fails the call; a missing image, model or variable does, with the reason.")


def _settings_column(samples: list[str]) -> dict:
    image = ImageUpload(type="filepath", label="Image", sources=["upload", "clipboard"], height=300)
    if samples:
        gr.Examples(samples, inputs=image, label="Sample images", examples_per_page=12)
    task = gr.Dropdown([(t.title, t.name) for t in TASKS.values()], value="pothole_severity", label="Task")
    variable = gr.Textbox(label="Tag", visible=False, placeholder="e.g. pothole")
    prompt = gr.Textbox(TASKS["pothole_severity"].prompt, label="Prompt (editable)", lines=8)
    with gr.Accordion("Settings", open=False):
        max_tokens = gr.Slider(16, 2048, value=512, step=16, label="Max new tokens")
        max_edge = gr.Slider(0, 2048, value=0, step=64, label="Max long edge sent (px)",
                             info="0: each model's own max_edge from the models file (else 1536)")
        detail = gr.Radio(["auto", "low", "high"], value="auto", label="Image detail (OpenAI)")
        effort = gr.Radio(["none", "low", "medium", "high"], value="none", label="Reasoning effort",
                          info="For reasoning models that take it; none: not sent (the models file's, if set)")
    mode = gr.Radio([("Generate an answer", "generate"), ("Score every label (probabilities)", "score")],
                    value="generate", label="Mode")
    return dict(image=image, task=task, variable=variable, prompt=prompt, max_tokens=max_tokens,
                max_edge=max_edge, detail=detail, mode=mode, effort=effort)


def _models_column(catalog: list[ModelSpec]) -> dict:
    models = gr.CheckboxGroup(model_choices(catalog, {}), value=[s.name for s in catalog if s.selected],
                              label="Models", elem_id="compare-models")
    refresh = gr.Button("Check models", size="sm")
    costs = gr.Dataframe(label="Estimated cost (≈100 output tokens; updates with image, models, max edge and "
                               "detail)", interactive=False)
    with gr.Accordion("API keys (kept for this browser session only)", open=False):
        key_boxes = {var: gr.Textbox(label=var, type="password", placeholder="not stored anywhere")
                     for var in key_variables(catalog)}
    with gr.Accordion("Add an OpenAI-compatible model (vLLM, Ollama, LocalAI, LM Studio, …)", open=False):
        custom = [gr.Textbox(label="Display name"),
                  gr.Textbox(label="Base URL", placeholder="http://localhost:8000/v1"),
                  gr.Textbox(label="Model id", placeholder="Qwen/Qwen2.5-VL-7B-Instruct"),
                  gr.Textbox(label="Key variable (optional)", placeholder="MY_SERVER_API_KEY")]
        add = gr.Button("Add model", size="sm")
    run = gr.Button("Run", variant="primary")
    cards = gr.HTML(label="Results")
    # max_chars: the full error is in the model's card; the value: headers, not "1 2 3", before a run
    table = gr.Dataframe(label="Results table", interactive=False, max_chars=60, pinned_columns=1,
                         elem_id="compare-results", elem_classes=["wb-table"],
                         value=with_headers(without_empty_columns(results_table([]))))
    share, link = share_controls("compare")
    return dict(models=models, refresh=refresh, costs=costs, key_boxes=key_boxes, custom=custom, add=add, run=run,
                cards=cards, table=table, share=share, link=link)


def build_compare_tab(catalog: list[ModelSpec], keys: gr.State, extra: gr.State, samples: list[str]) -> None:
    """The tab; it writes the session's keys (the password boxes) and added models into the shared states."""
    with gr.Tab("Compare", elem_id="compare-tab"):
        with gr.Row():
            with gr.Column(scale=1):
                s = _settings_column(samples)
            with gr.Column(scale=2):
                m = _models_column(catalog)
    models, refresh = m["models"], partial(refreshed_models, catalog)
    s["task"].change(task_fields, s["task"], [s["prompt"], s["variable"]], api_visibility="private")
    preview_inputs = [s["image"], models, s["prompt"], s["max_edge"], s["detail"], extra]
    for trigger in (s["image"].change, models.change, s["max_edge"].release, s["detail"].change, s["prompt"].blur,
                    s["task"].change):
        trigger(partial(cost_preview, catalog=catalog), preview_inputs, m["costs"], api_visibility="private",
                show_progress="hidden")
    for var, box in m["key_boxes"].items():
        box.change(lambda k, v, var=var: set_key(k, var, v), [keys, box], keys, api_visibility="private")
    m["refresh"].click(refresh, [keys, extra, models], models, api_visibility="private")
    m["add"].click(lambda *a: add_custom_model(*a, catalog), [extra, *m["custom"]], extra,
                   api_visibility="private").success(
        lambda k, e, t: refresh(k, e, [*t, e[-1]["name"]]), [keys, extra, models], models, api_visibility="private")
    _wire_run(s, m, catalog, keys, extra)


def _wire_run(s: dict, m: dict, catalog: list[ModelSpec], keys: gr.State, extra: gr.State) -> None:
    """Run → the cards and table (the /compare endpoint), then the Share link button for that result."""
    kept = gr.State(None)  # the finished comparison, until Share link stores it

    def compare(image_path, task_name, prompt, variable, model_names, keys, extra, max_tokens, max_edge, detail,
                mode, reasoning_effort, profile: gr.OAuthProfile | None):
        current_user(profile)  # with sign-in on, only a signed-in user runs models
        yield from compare_and_keep(image_path, task_name, prompt, variable, model_names, keys, extra, max_tokens,
                                    max_edge, detail, mode, reasoning_effort, catalog=catalog)

    inputs = [s["image"], s["task"], s["prompt"], s["variable"], m["models"], keys, extra, s["max_tokens"],
              s["max_edge"], s["detail"], s["mode"], s["effort"]]
    m["run"].click(reveal, None, [m["share"], m["link"]], api_visibility="private", queue=False)
    m["run"].click(compare, inputs, [m["cards"], m["table"], kept], api_name="compare",
                   api_description=COMPARE_API_DESCRIPTION, concurrency_id="models", concurrency_limit=4).success(
        reveal, kept, [m["share"], m["link"]], api_visibility="private")
    wire_share(m["share"], m["link"], link_to_comparison, kept, [kept])
