"""The "Share link" button of the Compare, Batch and History tabs: it stores what the link reopens (a comparison,
or a share token for a run) and shows a copyable URL on the page's own origin.

The server answers `?share=TOKEN`; the browser puts its own address in front (window.location), so the link is
right behind a proxy, on a Space or on a gradio.live address alike."""
from __future__ import annotations

import math

import gradio as gr

from ..errors import WorkbenchError
from ..store import RunStore
from .access import current_user, may_see

SHARE_PARAM = "share"
# The handler returns "?share=TOKEN"; this turns it into the full address the browser is at.
FULL_URL_JS = ("(link) => (link && link.startsWith('?')) ? "
               "window.location.origin + window.location.pathname + link : link")
LINK_INFO = "Opens this result read-only for anyone who can open this app; nothing is re-run."


def share_controls(prefix: str) -> tuple[gr.Button, gr.Textbox]:
    """The button (hidden until there is a result) and the copyable link (hidden until pressed)."""
    button = gr.Button("Share link", size="sm", visible=False, elem_id=f"{prefix}-share")
    link = gr.Textbox(label="Share link", info=LINK_INFO, visible=False, interactive=False, buttons=["copy"],
                      lines=1, max_lines=1, elem_id=f"{prefix}-share-link")
    return button, link


def wire_share(button: gr.Button, link: gr.Textbox, fn, inputs, outputs=()) -> None:
    """`fn` returns the link's update ("?share=TOKEN") first, then any `outputs`."""
    button.click(fn, inputs, [link, *outputs], api_visibility="private").then(
        None, link, link, js=FULL_URL_JS, api_visibility="private")


def reveal(has_result=None) -> tuple:
    """After a result: the button shown, the previous result's link hidden."""
    return gr.update(visible=bool(has_result)), gr.update(value="", visible=False)


def comparison_record(results, *, image_path: str, task, prompt: str, variables: dict, params: dict,
                      estimated: dict) -> dict:
    """What a shared comparison keeps: JSON-able, no key anywhere (results carry key names at most)."""
    return {"image_path": image_path, "image_name": getattr(results[0], "image", "") if results else "",
            "task": task.name, "task_title": task.title, "task_definition": task.definition(),
            "prompt": task.render(prompt, variables), "variables": variables, "params": params,
            "models": [r.model for r in results], "results": [r.to_dict() for r in results],
            "estimated": {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                          for k, v in (estimated or {}).items()}}


def link_to_comparison(kept: dict | None, profile: gr.OAuthProfile | None = None) -> tuple[dict, dict]:
    """Stores the comparison (once per result: pressing again gives the same link); its link, and the kept
    comparison with its token."""
    if not kept:
        raise gr.Error("Run a comparison first, then press Share link.")
    user = current_user(profile)
    token = kept.get("token")
    if not token:
        record = {k: v for k, v in kept.items() if k not in ("image_path", "token")}
        try:
            token = RunStore().share_comparison(record, kept["image_path"], owner=user)
        except WorkbenchError as e:
            raise gr.Error(f"The comparison could not be shared: {e}") from None
    return gr.update(value=f"?{SHARE_PARAM}={token}", visible=True), {**kept, "token": token}


def link_to_run(run_id: str | None, profile: gr.OAuthProfile | None = None, db=None) -> dict:
    if not run_id:
        raise gr.Error("Open a run first, then press Share link.")
    user = current_user(profile)
    try:
        store = RunStore(db)
        run = store.run(run_id)
        if not may_see(store.owner(run["id"]), user):
            raise gr.Error("That run is not one of yours: choose one of your runs in the Run box.")
        token = store.share_run(run["id"], owner=user)
    except WorkbenchError as e:
        raise gr.Error(str(e)) from None
    return gr.update(value=f"?{SHARE_PARAM}={token}", visible=True)
