"""The prompt playground: try a prompt on one image with several models, inside a notebook (ipywidgets).

    pg = workbench.Playground("pothole_severity", images=params.images)
    pg               # shows the panel: pick an image or upload one, edit the prompt, tick models, press Run
    pg.run()         # the same as pressing Run, from code; returns the Result records
    pg.table         # the last run as a DataFrame; pg.results holds the records
    pg.save_version("strict")   # the same as "Save as prompt version": kept in the run store, so
                                # run_batch(..., prompts=["strict"]) and the next Playground find it

Every widget is an attribute (`pg.prompt`, `pg.model_picker`, `pg.mode`, ...), so a test or a notebook cell can set
values and call the handlers without a browser.
"""
from __future__ import annotations

import time
from html import escape
from typing import TYPE_CHECKING, Any

from ..calls import availability
from .labels import RunLabels
from ..cards import results_html, snapshot_html
from ..comparison import compare_stream
from ..costs import format_usd
from ..errors import ConfigError, ImageError
from ..images import load_image
from ..lifecycle import MODES
from ..models import ModelSpec, load_models, resolve_models
from ..results import Result
from ..tables import TABLE_COLUMNS, results_table  # noqa: F401 — the playground's table, importable from here
from ..tasks import TASKS, get_task
from .images import _THUMBNAIL, ImagePicker
from .versions import PromptVersion, PromptVersions, default_store  # noqa: F401 — public here too

if TYPE_CHECKING:
    import pandas as pd

_TABLE_CSS = (".wb-table{border-collapse:collapse;font-size:12px;margin:6px 0}"
              ".wb-table th,.wb-table td{padding:3px 8px;border-bottom:1px solid #d0d7de;text-align:left;"
              "vertical-align:top;max-width:320px}")


class ResultCards:
    """Result records shown as one card per model in a notebook (the app's cards): `ResultCards(results)`."""

    def __init__(self, results: list[Result]):
        self.results = list(results)

    def _repr_html_(self) -> str:
        return results_html(self.results)


class Playground(ImagePicker, PromptVersions, RunLabels):
    """An ipywidgets panel: image picker (samples or upload), prompt prefilled from the task, model multi-select
    with availability and estimated cost, generate/score mode, Run, a result table and one card per model."""

    def __init__(self, task: str = "ask", models=None, images=None, *, selected=None,
                 variables: dict[str, str] | None = None, keys: dict[str, str] | None = None,
                 max_tokens: int = 256, max_edge: int | None = None, store: Any = None):
        """`models`: names or ModelSpecs to offer (default: every entry of the models file). `selected`: the ones
        ticked at first (default: the ready ones among `models` if given, else the file's ticked ones).
        `images`: paths to offer (default: the sample images). `variables`: the first value of the task's variable
        box, e.g. {"tag": "beach"}. `store`: a run store for saved prompt versions
        (default: workbench.store's default store where it exists; otherwise versions stay in memory)."""
        import ipywidgets as w

        catalog = load_models() if models is None else resolve_models(models, load_models())
        if not catalog:
            raise ConfigError("the playground needs at least one model — add one to the models file")
        self.specs: dict[str, ModelSpec] = {s.name: s for s in catalog}
        self.keys = dict(keys or {})
        self.max_edge = max_edge
        self._store = store
        self.results: list[Result] = []
        self.table: "pd.DataFrame | None" = None
        self.versions: list[PromptVersion] = self._saved_versions()
        self._uploads: dict[str, tuple[str, bytes]] = {}
        self._availability = {name: availability(s, self.keys) for name, s in self.specs.items()}
        self._costs: dict[str, float | None] = {}

        task = get_task(task)
        self._build_widgets(w, task, images, max_tokens)
        self.model_picker.value = tuple(self._initial_selection(models, selected))
        self._task_changed()
        if task.variables and (variables or {}).get(task.variables[0]):
            self.variable.value = str(variables[task.variables[0]])
        self._image_changed()
        self.task_picker.observe(lambda _: self._task_changed(), names="value")
        self.image_picker.observe(lambda _: self._image_changed(), names="value")
        self.prompt.observe(lambda _: self._refresh_models(), names="value")
        self.upload.observe(lambda _: self._uploaded(), names="value")
        self.run_button.on_click(lambda _: self.run())
        self.save_button.on_click(lambda _: self._save_clicked())
        self.version_picker.observe(lambda _: self._version_picked(), names="value")

    def _build_widgets(self, w, task, images, max_tokens: int) -> None:
        """Every widget as an attribute, and the panel that lays them out."""
        self.task_picker = w.Dropdown(options=[(t.title, name) for name, t in TASKS.items()], value=task.name,
                                      description="Task")
        self.mode = w.ToggleButtons(options=list(MODES), value="generate", description="Mode",
                                    tooltips=["Generate text and parse it", "Read a probability for every label"])
        self.max_tokens = w.BoundedIntText(value=max_tokens, min=1, max=8192, description="Max tokens")
        self.image_picker = w.Dropdown(options=self._image_options(images), description="Image")
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Upload")
        self.preview = w.Image(format="png", layout=w.Layout(max_width=f"{_THUMBNAIL}px"))
        self.variable = w.Text(description="", placeholder="")
        self.prompt = w.Textarea(value=task.prompt, rows=10, continuous_update=False,
                                 layout=w.Layout(width="100%"))
        self.model_picker = w.SelectMultiple(options=[(n, n) for n in self.specs], description="Models",
                                             rows=min(8, len(self.specs)), layout=w.Layout(width="100%"))
        self.model_info = w.HTML()
        self.run_button = w.Button(description="Run", button_style="primary", icon="play",
                                   layout=w.Layout(width="auto"))
        self.version_name = w.Text(placeholder="version name, e.g. strict-v2", description="Version")
        self.save_button = w.Button(description="Save as prompt version", icon="save", layout=w.Layout(width="auto"))
        self.version_picker = w.Dropdown(options=[("—", None)], value=None, description="Saved",
                                         tooltip="Load a saved prompt version of this task into the editor")
        self.status = w.HTML()
        self.table_html = w.HTML()
        self.cards = w.HTML()
        self.widget = w.VBox([
            w.HBox([self.task_picker, self.max_tokens]), self.mode,
            w.HBox([w.VBox([self.image_picker, self.upload, self.preview]),
                    w.VBox([self.variable, self.prompt], layout=w.Layout(flex="1"))]),
            self.model_picker, self.model_info,
            w.HBox([self.run_button, self.version_name, self.save_button, self.version_picker]),
            self.status, self.table_html, self.cards,
        ])

    # --- display -------------------------------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def display(self) -> None:
        from IPython.display import display

        display(self.widget)

    # --- setup -------------------------------------------------------------------------------------------
    def _initial_selection(self, models, selected) -> list[str]:
        if selected is not None:
            return [s.name for s in resolve_models(selected, list(self.specs.values()))]
        if models is None:
            ticked = [s.name for s in self.specs.values() if s.selected]
            return ticked or [next(iter(self.specs))]
        return [n for n in self.specs if self._availability[n].ready]

    @property
    def task(self):
        return get_task(self.task_picker.value)

    # --- observers ------------------------------------------------------------------------------------------
    def _task_changed(self) -> None:
        task = self.task
        self.prompt.value = task.prompt
        name = task.variables[0] if task.variables else None
        self.variable.layout.display = None if name else "none"
        self.variable.description = (name or "").capitalize()
        self.variable.value = task.examples.get(name, "") if name else ""
        self.variable.placeholder = f"the {{{name}}} in the prompt" if name else ""
        self._refresh_versions()
        self._refresh_models()

    def refresh_models(self) -> None:
        """Check every model's availability again (after setting a key or starting a server)."""
        self._availability = {name: availability(s, self.keys) for name, s in self.specs.items()}
        self._refresh_models()

    def _refresh_models(self) -> None:
        """Relabel the models with their availability and estimated cost for this image and prompt."""
        self._costs = self._estimate_costs()
        ticked = self.model_picker.value
        self.model_picker.options = [(self._label(n), n) for n in self.specs]
        self.model_picker.value = ticked  # relabelling clears the selection
        rows = "".join(
            f"<tr><td>{escape(n)}</td><td>{escape(a.status)}</td><td>{escape(a.message)}</td>"
            f"<td>{format_usd(self._costs.get(n))}</td>"
            f"<td>{format_usd(None if self._costs.get(n) is None else self._costs[n] * 1000)}</td></tr>"
            for n, a in self._availability.items())
        self.model_info.value = ("<details><summary>Models: availability and estimated cost</summary>"
                                 "<table><tr><th>model</th><th>status</th><th>note</th><th>≈ per image</th>"
                                 f"<th>≈ per 1,000</th></tr>{rows}</table></details>")

    def _estimate_costs(self) -> dict[str, float | None]:
        source = self._image_source()
        if source is None:
            return {}
        from ..cost_preview import preview_costs

        try:
            frame = preview_costs(source, list(self.specs.values()), prompt=self.prompt.value or "",
                                  max_edge=self.max_edge)
        except (ImageError, ConfigError):
            return {}
        return {m: (None if c != c else c) for m, c in zip(frame["model"], frame["cost_per_call"])}  # NaN → None

    def _label(self, name: str) -> str:
        status = self._availability[name].status
        if name not in self._costs:
            cost = ""
        elif self._costs[name] is None:
            cost = " · cost unknown"
        else:
            cost = f" · ≈{format_usd(self._costs[name])}/image"
        return f"{name} — {status}{cost}"

    def _say(self, message: str, *, error: bool = False) -> None:
        colour = "#cf222e" if error else "inherit"
        self.status.value = f'<div style="color:{colour}">{message}</div>'

    # --- actions -------------------------------------------------------------------------------------------
    def run(self) -> list[Result]:
        """The Run button: every ticked model on the picked image with the prompt as edited. Returns the results;
        bad input (no image, no model, a missing {variable}) is shown in the status line and returns []."""
        try:
            image, specs, variables = self._inputs()
        except (ConfigError, ImageError) as e:
            self._say(escape(str(e)), error=True)
            return []
        self._say(f"Running {len(specs)} model(s) in {self.mode.value} mode…")
        options = dict(prompt=self.prompt.value, variables=variables, keys=self.keys,
                       max_tokens=int(self.max_tokens.value), max_edge=self.max_edge, mode=self.mode.value)
        started = time.perf_counter()
        for snapshot in compare_stream(image, self.task, specs, **options):
            self.cards.value = snapshot_html(snapshot)
        self.results = snapshot.results
        self.table = results_table(self.results)
        self.table_html.value = _table_html(self.table)
        failed = sum(r.status == "error" for r in self.results)
        self._say(f"Done in {time.perf_counter() - started:.1f} s: {len(self.results) - failed} answered, "
                  f"{failed} failed" + (" (see the error column)." if failed else "."))
        return self.results

    def _inputs(self):
        source = self._image_source()
        if source is None:
            raise ImageError("pick a sample image or upload one first")
        specs = [self.specs[n] for n in self.model_picker.value]
        if not specs:
            raise ConfigError("tick at least one model")
        task = self.task
        variables = {task.variables[0]: self.variable.value.strip()} if task.variables else {}
        if task.variables and not variables[task.variables[0]] and f"{{{task.variables[0]}}}" in self.prompt.value:
            raise ConfigError(f"type a value in the {task.variables[0].capitalize()} box: the prompt uses "
                              f"{{{task.variables[0]}}}")
        task.render(self.prompt.value, variables)  # a missing {tag} is the user's to fix, before any call
        return load_image(source), specs, variables


def _table_html(table: "pd.DataFrame") -> str:
    shown = table.astype(object).where(table.notna(), "—")
    return (f"<style>{_TABLE_CSS}</style>"
            + shown.to_html(index=False, escape=True, classes="wb-table", border=0))
