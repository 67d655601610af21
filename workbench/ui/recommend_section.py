"""The Batch tab's "Recommendation" section: a bar ("accuracy>=0.9"), the pick and why, the quality/cost frontier.

Kept to one function the Batch tab calls, with its own run picker, so it reads any run of the store (labels set
later in the Label tab count too) and the Batch tab's own handlers stay untouched.
"""
from __future__ import annotations

import gradio as gr

from ..decide import recommend
from ..errors import MissingLabels, WorkbenchError
from ..wording import error_message
from .label_tab import run_choices

DEFAULT_BAR = "accuracy>=0.8"


def recommend_for_run(run_id: str | None, bar: str | None):
    """Markdown (the pick, or that none meets the bar, and the reason) and the frontier plot."""
    if not run_id:
        raise gr.Error("Choose a run first (press Refresh after a batch finishes).")
    try:
        rec = recommend(run_id, bar.strip() if bar and bar.strip() else None)
    except MissingLabels as e:
        raise gr.Error(error_message(e, "app")) from None
    except WorkbenchError as e:
        raise gr.Error(f"{error_message(e, 'app')} — check the Bar box") from None
    head = f"**Pick: {rec.pick}**" if rec.pick else "**No configuration meets the bar.**"
    return f"{head}\n\n{rec.reason}", rec.plot()


def build_recommendation_section() -> None:
    with gr.Accordion("Recommendation", open=False, elem_id="batch-recommendation"):
        with gr.Row():
            run_id = gr.Dropdown(label="Run", choices=[], allow_custom_value=True, scale=3)
            bar = gr.Textbox(DEFAULT_BAR, label="Bar (every one must be met)", scale=2,
                             placeholder='e.g. accuracy>=0.9, p95<=2s, cost<=1.5')
        with gr.Row():
            refresh = gr.Button("Refresh runs", size="sm")
            go = gr.Button("Recommend", variant="primary", size="sm")
        pick = gr.Markdown(elem_id="batch-recommendation-pick")
        frontier = gr.Plot(label="Quality against cost: the frontier")
        refresh.click(run_choices, None, run_id, api_visibility="private")
        go.click(recommend_for_run, [run_id, bar], [pick, frontier], api_name="recommend")
