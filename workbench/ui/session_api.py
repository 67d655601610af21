"""API endpoints for the per-session setup a browser does with the Keys boxes and "Add model": `/set_key` and
`/add_model`, so that a gradio_client user (one Client = one session) can do the same. They write the same
gr.State as the boxes do, so one client's keys and models never reach another's."""
from __future__ import annotations

import gradio as gr

from ..models import ModelSpec
from .compare_tab import add_custom_model, set_key
from .fields import model_choices, session_specs


def _models_boxes(demo: gr.Blocks, elem_ids: tuple[str, ...]) -> list[gr.CheckboxGroup]:
    return [b for b in demo.blocks.values() if isinstance(b, gr.CheckboxGroup) and b.elem_id in elem_ids]


def build_session_api(demo: gr.Blocks, catalog: list[ModelSpec], keys: gr.State, extra: gr.State,
                      models_boxes: tuple[str, ...] = ("compare-models", "batch-models")) -> None:
    """Hidden inputs and two named endpoints; call inside `with demo:` after the tabs are built."""
    boxes = _models_boxes(demo, models_boxes)

    def set_session_key(session_keys: dict, env_var: str, value: str) -> dict:
        if not (env_var or "").strip():
            raise gr.Error("set_key needs env_var: the key's variable name, e.g. OPENROUTER_API_KEY.")
        return set_key(session_keys, env_var.strip(), value)

    def add_session_model(session_extra: list, session_keys: dict, name: str, base_url: str, model_id: str,
                          key_env: str):
        added = add_custom_model(session_extra, name, base_url, model_id, key_env, catalog)
        # the Models boxes must list the new model, or /compare and /batch refuse it as "not in the choices"
        choices = model_choices(session_specs(catalog, added), session_keys)
        return added, *[gr.update(choices=choices) for _ in boxes], added[-1]["name"]

    with gr.Group(visible=False):
        env_var, value = gr.Textbox(label="env_var"), gr.Textbox(label="value")
        custom = [gr.Textbox(label=label) for label in ("name", "base_url", "model_id", "key_env")]
        added_name = gr.Textbox(label="added model")
        set_button, add_button = gr.Button("set key"), gr.Button("add model")
    set_button.click(set_session_key, [keys, env_var, value], keys, api_name="set_key",
                     api_description="Set an API key for this session only (never stored).")
    add_button.click(add_session_model, [extra, keys, *custom], [extra, *boxes, added_name], api_name="add_model",
                     api_description="Add an OpenAI-compatible model for this session; returns its name.")
