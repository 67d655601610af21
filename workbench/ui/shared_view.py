"""The read-only view a share link opens (`?share=TOKEN`): a comparison's image, prompt, cards and table, or a batch
run's key metrics, answers per image and results, all read from the run store. Nothing here calls a model, and
the workbench's tabs are hidden while it shows (a link back to the workbench sits under it)."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from ..cards import results_html
from ..errors import WorkbenchError
from ..evaluate import evaluate_run, key_metrics
from ..html_embed import esc, thumbnail_uri
from ..results import Result
from ..store import RunStore
from ..tables import readable, results_table, with_headers, without_empty_columns
from ..wording import plural, reworded
from .share_link import SHARE_PARAM

RUN_COLUMNS = ("image_path", "model", "prompt_version", "status", "label", "expected", "latency_s", "cost",
               "error_type", "error")
THUMBNAILS = 48  # images shown as tiles for a shared run; the Results table holds every one
BACK = "[Open the workbench](./) to run your own comparison."
VIEW_KEYS = ("view", "tabs", "title", "image", "prompt", "cards", "key", "table")


def build_shared_view() -> dict:
    """The view's components, hidden until a share link opens it; `tabs` is added by the caller."""
    hidden = dict(interactive=False, visible=False, elem_classes=["wb-table"])
    with gr.Column(visible=False, elem_id="shared-view") as view:
        title = gr.Markdown(elem_id="shared-title")
        with gr.Row(equal_height=False):
            image = gr.Image(label="Image", type="pil", interactive=False, visible=False, height=300,
                             elem_id="shared-image", buttons=["fullscreen"])
            prompt = gr.Textbox(label="Prompt sent", interactive=False, visible=False, lines=6, max_lines=14,
                                elem_id="shared-prompt")
        key = gr.Dataframe(label="Key metrics per model and prompt version", elem_id="shared-key", **hidden)
        cards = gr.HTML(visible=False, elem_id="shared-cards")  # a comparison's cards, or a run's answer tiles
        table = gr.Dataframe(label="Results", elem_id="shared-results", max_chars=60, **hidden)
        gr.Markdown(BACK)
    return dict(view=view, title=title, image=image, prompt=prompt, cards=cards, key=key, table=table)


def open_shared(request: gr.Request):
    """demo.load: with `?share=TOKEN` the view it names, the tabs hidden; without one, nothing changes."""
    token = (dict(getattr(request, "query_params", {}) or {}).get(SHARE_PARAM) or "").strip()
    if not token:
        return (gr.skip(),) * len(VIEW_KEYS)
    try:
        shared = RunStore().shared(token)
        shown = _nothing(token) if shared is None else (
            _comparison(shared) if shared["kind"] == "comparison" else _run(shared["run_id"]))
    except WorkbenchError as e:
        shown = {"title": f"### This share link cannot be opened\n{e}"}
    updates = {k: gr.update(visible=False) for k in VIEW_KEYS}
    updates.update(view=gr.update(visible=True), tabs=gr.update(visible=False))
    updates.update({k: {**(v if isinstance(v, dict) else gr.update(value=v)), "visible": True}
                    for k, v in shown.items() if _present(v)})
    return tuple(updates[k] for k in VIEW_KEYS)


def _present(value) -> bool:
    """Worth showing: not None, not an empty list, text or table (an update is always shown)."""
    if isinstance(value, dict):
        return True
    if value is None or (isinstance(value, (list, str)) and not value):
        return False
    return not getattr(value, "empty", False)


def _nothing(token: str) -> dict:
    return {"title": f"### This share link opens nothing here\nNo result is stored under `{token[:40]}` in this "
                     "app's run store: the link may come from another copy of the app, or its store was reset. "
                     "Ask for a new link (the Share link button under the result)."}


def _comparison(shared: dict) -> dict:
    c = shared["comparison"]
    results = [Result(**r) for r in c["results"]]
    title = (f"### Shared comparison — read-only\n**{c.get('task_title') or c['task']}** · "
             f"{len(results)} model{'s' * (len(results) != 1)}: {', '.join(r.model for r in results)} · "
             f"shared {shared['created_at'].replace('T', ' ')} · {_settings(c.get('params') or {})}\n\n"
             "These are the stored answers: opening this link calls no model.")
    return {"title": title, "image": _picture(shared.get("image_path"), 1024), "prompt": c.get("prompt") or "",
            "cards": reworded(results_html(results), "app"), "table": comparison_table(results, c.get("estimated"))}


def comparison_table(results: list[Result], estimated: dict | None):
    """The Compare tab's results table: short headers, estimated cost beside the actual one, errors in the app's
    words."""
    table = without_empty_columns(results_table(results, estimated or None))
    if "error" in table:
        table["error"] = [reworded(e, "app") if isinstance(e, str) else e for e in table["error"]]
    return with_headers(table)


def _settings(params: dict) -> str:
    edge = params.get("max_edge")
    parts = [f"mode {params.get('mode') or 'generate'}", f"max new tokens {params.get('max_tokens', '—')}",
             f"long edge sent {edge} px" if edge else "each model's own long edge"]
    if params.get("detail") and params["detail"] != "auto":
        parts.append(f"detail {params['detail']}")
    return ", ".join(parts)


def _run(run_id: str) -> dict:
    store = RunStore()
    run = store.run(run_id)
    results = store.results(run["id"])
    evaluation = evaluate_run(run["id"], db=store.path)
    models = ", ".join(m["name"] for m in run["models"])
    title = (f"### Shared batch run `{run['id']}` — read-only\n**{store.task(run['id']).title}** · "
             f"{plural(run['n_items'], 'item')} ({plural(results['image_path'].nunique(), 'image')} × "
             f"{plural(len(run['models']), 'model')} × {plural(len(run['prompts']), 'prompt version')}) · "
             f"models: {models} · started {run['started_at'].replace('T', ' ')}\n\n"
             "These are the stored answers: opening this link calls no model.")
    prompts = "\n\n".join(f"{version}:\n{text}" for version, text in run["prompts"].items())
    keep = [c for c in RUN_COLUMNS if c in results.columns]
    return {"title": title, "prompt": gr.update(value=prompts, label="Prompt versions"),
            "key": key_metrics(evaluation.summary), "cards": answer_tiles(results), "table": readable(results[keep])}


TILES_CSS = """<style>
.wb-tiles{display:flex;flex-wrap:wrap;gap:10px}
.wb-tile{width:172px;border:1px solid #d0d7de;border-radius:8px;padding:6px;font-size:12px;
  background:var(--block-background-fill,#fff);color:var(--body-text-color,#1f2328)}
.wb-tile img{width:100%;height:112px;object-fit:contain;background:#f6f8fa;border-radius:4px;display:block}
.wb-tile .wb-name{font-weight:600;margin:4px 0 2px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.wb-tile .wb-answer{overflow-wrap:anywhere}.wb-tile .wb-expected{opacity:.75}
@media (max-width:480px){.wb-tile{width:calc(50% - 5px);box-sizing:border-box}}
</style>"""


def answer_tiles(results) -> str:
    """One tile per image (and prompt variables): a thumbnail, the expected label, each model's (and prompt
    version's) answer. Thumbnails travel inside the page (data: URIs), as in the HTML report."""
    versions = results["prompt_version"].nunique() > 1
    tiles: dict[tuple, list[str]] = {}
    for r in results.itertuples(index=False):
        variables = ", ".join(f"{k}={v}" for k, v in sorted((r.variables or {}).items()))
        key = (r.image_path, variables)
        if key not in tiles and len(tiles) >= THUMBNAILS:
            continue
        if key not in tiles:
            uri = thumbnail_uri(r.image_path, 240)
            name = Path(r.image_path).name + (f" ({variables})" if variables else "")
            tiles[key] = [(f'<img src="{uri}" alt="{esc(name)}">' if uri else "") +
                          f'<div class="wb-name" title="{esc(name)}">{esc(name)}</div>',
                          f'<div class="wb-expected">expected: {esc(r.expected)}</div>']
        answer = r.label if r.status != "error" else f"error: {r.error_type}"
        model = f"{r.model} · {r.prompt_version}" if versions else r.model
        tiles[key].append(f'<div class="wb-answer"><b>{esc(model)}</b>: {esc(answer)}</div>')
    more = len({(p, str(v)) for p, v in zip(results["image_path"], results["variables"])}) - len(tiles)
    note = f"<p>… and {more} more in the Results table below.</p>" if more > 0 else ""
    body = "".join(f'<div class="wb-tile">{"".join(parts)}</div>' for parts in tiles.values())
    return f'{TILES_CSS}<div class="wb-tiles">{body}</div>{note}'


def _picture(path: str | None, edge: int):
    """A downsized copy in memory (the file may sit outside the folders Gradio serves); None when it is gone."""
    from PIL import Image, ImageOps

    if not path or not Path(path).is_file():
        return None
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.thumbnail((edge, edge))
            return im.convert("RGB")
    except OSError:
        return None
