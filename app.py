"""VLM Workbench app: one image, one task, any number of models, side by side.

    python app.py                      # http://127.0.0.1:7860
    python app.py --share              # a public link for stakeholders
    WORKBENCH_AUTH=user:password python app.py --host 0.0.0.0
    WORKBENCH_QUEUE_SIZE=200 python app.py # requests allowed to wait (default 64); more are refused "Queue is full"
    python app.py --mcp                # also an MCP server for agents: http://127.0.0.1:7860/gradio_api/mcp/
    WORKBENCH_LOGIN=hf python app.py   # on a Space: Sign in with Hugging Face; History shows each user their runs
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import gradio as gr

from workbench import ConfigError, load_models
from workbench.ui.batch_tab import build_batch_tab
from workbench.ui.compare_tab import (ImageUpload, add_custom_model, build_compare_tab, cost_preview,  # noqa: F401
                                      key_variables, run_comparison, set_key)
from workbench.ui.fields import APP_CSS
from workbench.ui.access import SIGN_IN, login_mode, oauth_ready, public_space_warning
from workbench.ui.history_tab import build_history_tab
from workbench.ui.label_tab import build_label_tab
from workbench.ui.mcp_tools import build_mcp_tools, expose_only_tools
from workbench.ui.session_api import build_session_api
from workbench.ui.shared_view import VIEW_KEYS, build_shared_view, open_shared
from workbench.zerogpu import prepare

SAMPLES = Path(__file__).with_name("sample_images")
MAX_UPLOAD = "25mb"
QUEUE_SIZE = 64  # requests waiting beyond this are refused with "Queue is full", never dropped silently


def build_demo(catalog=None, mcp: bool = False) -> gr.Blocks:
    """The tabs and the per-session state they share: the keys typed and the models added in this browser.
    `mcp`: add the agents' tools and leave them the only documented endpoints (the MCP server lists those)."""
    catalog = list(catalog if catalog is not None else load_models())
    samples = sorted(str(p) for p in SAMPLES.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
    with gr.Blocks(title="VLM Workbench") as demo:
        keys = gr.State({})  # env var → key, for this browser session only
        extra = gr.State([])  # models added in the Compare tab, as ModelSpec dicts
        gr.Markdown("# VLM Workbench\nWhich vision-language model, with which prompt, does your image task best "
                    "— at what cost and speed? Upload an image, pick a task and models, and compare.")
        _access_row()
        shared = build_shared_view()  # what a share link (?share=…) opens, read-only, instead of the tabs
        # A Column around the tabs, not gr.Tabs: inside an explicit gr.Tabs, Gradio 6.31 shows the open tab twice.
        with gr.Column(elem_id="workbench-tabs") as tabs:
            build_compare_tab(catalog, keys, extra, samples)
            build_batch_tab(catalog, keys, extra)
            build_history_tab()
            build_label_tab()
        build_session_api(demo, catalog, keys, extra)  # after the tabs: between two tabs it would split the tab strip
        shared["tabs"] = tabs
        demo.load(open_shared, None, [shared[k] for k in VIEW_KEYS], api_visibility="private", show_progress="hidden")
        if mcp:
            build_mcp_tools(catalog)
    if mcp:
        expose_only_tools(demo)
    return demo


def mcp_wanted(flag: bool, environ=None) -> bool:
    """--mcp, or GRADIO_MCP_SERVER=true (Gradio's own switch, settable as a Space variable)."""
    return flag or (environ if environ is not None else os.environ).get("GRADIO_MCP_SERVER", "").lower() == "true"


def _access_row() -> None:
    """The sign-in button when WORKBENCH_LOGIN=hf; the warning of a Space that anyone can use (see access.py)."""
    if login_mode() == "hf":
        gr.LoginButton(SIGN_IN, size="sm")
    if warning := public_space_warning():
        gr.Markdown(warning, elem_id="public-space-warning", elem_classes=["wb-warning"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="VLM Workbench: compare vision-language models on an image.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    parser.add_argument("--models", help="models file (TOML); default: ./models.toml or the built-in list")
    parser.add_argument("--mcp", action="store_true", help="also serve MCP tools for agents at /gradio_api/mcp/")
    args = parser.parse_args(argv)
    if args.models:
        os.environ["WORKBENCH_MODELS"] = args.models
    auth = os.environ.get("WORKBENCH_AUTH")
    if auth and ":" not in auth:
        parser.error("WORKBENCH_AUTH must look like user:password")
    try:
        if login_mode() and (missing := oauth_ready()):
            parser.exit(2, f"app.py: error: {missing}\n")
    except ConfigError as e:
        parser.exit(2, f"app.py: error: {e}\n")
    try:
        catalog = load_models()
    except ConfigError as e:  # a typo in the models file: refuse to start, with the line and the fix
        parser.exit(2, f"app.py: error: {e}\n")
    prepare(catalog)  # on a ZeroGPU Space: `spaces` first, local models loaded now (on CPU); elsewhere nothing
    mcp = mcp_wanted(args.mcp)
    demo = build_demo(catalog, mcp=mcp)
    demo.queue(max_size=int(os.environ.get("WORKBENCH_QUEUE_SIZE", QUEUE_SIZE)), default_concurrency_limit=4)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                auth=tuple(auth.split(":", 1)) if auth else None, show_error=True, max_file_size=MAX_UPLOAD,
                run_history=False, css=APP_CSS, mcp_server=mcp)


if __name__ == "__main__":
    main()
