"""Labelling in a notebook: a run's images one at a time, the models' answers beside each, one button per label.

    view = pg.label_view(run_id)     # or workbench.playground.LabelView(run_id)
    view                             # shows the panel; a click stores the label (who/when) and moves on
    view.choose("severe")            # the same as clicking that label's button, from code

Images come in the order where a label teaches most (`workbench.label_queue`: disagreement first, then the best
model's least sure answers); labels go into the run store, where every metric and the recommendation read them.
"""
from __future__ import annotations

from html import escape

from ..errors import ImageError
from ..labels import allowed_labels, label_queue, set_label
from .images import _THUMBNAIL, _thumbnail


class LabelView:
    def __init__(self, run_id: str, *, who: str = "notebook", db=None):
        import ipywidgets as w

        self.run_id, self.who, self.db = run_id, who, db
        self.queue = label_queue(run_id, db=db)
        self.position = 0
        self.image = w.Image(format="png", layout=w.Layout(max_width=f"{_THUMBNAIL}px"))
        self.caption, self.answers, self.status = w.HTML(), w.HTML(), w.HTML()
        self.buttons = [w.Button(description=str(label)) for label in allowed_labels(run_id, db=db)]
        for button in self.buttons:
            button.on_click(lambda b: self.choose(b.description))
        self.free_text = w.Text(placeholder="the true answer", description="Label")  # free-text tasks
        self.free_text.on_submit(lambda box: self.choose(box.value))
        self.back, self.next = w.Button(description="← Back"), w.Button(description="Next →")
        self.back.on_click(lambda _: self.move(-1))
        self.next.on_click(lambda _: self.move(1))
        labelling = w.HBox(self.buttons) if self.buttons else self.free_text
        self.widget = w.VBox([self.caption, w.HBox([self.image, self.answers]), labelling,
                              w.HBox([self.back, self.next]), self.status])
        self._show()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def choose(self, label) -> str:
        """Store `label` for the image shown, then show the next one. Returns the label as stored."""
        row = self.queue.iloc[self.position]
        stored = set_label(self.run_id, row["image_path"], label, who=self.who, variables=row["variables"],
                           db=self.db)
        self.queue.loc[self.queue.index[self.position], ["label", "who"]] = [stored, self.who]
        self.status.value = f"Stored {escape(stored)} for {escape(_name(row['image_path']))}."
        self.move(1)
        return stored

    def move(self, step: int) -> None:
        self.position = max(0, min(len(self.queue) - 1, self.position + step))
        self._show()

    def _show(self) -> None:
        if self.queue.empty:
            self.caption.value = "<b>This run has no images to label.</b>"
            return
        row = self.queue.iloc[self.position]
        label = row["label"] if isinstance(row["label"], str) else "none yet"
        self.caption.value = (f"<b>Image {self.position + 1} of {len(self.queue)}</b> · "
                              f"{escape(_name(row['image_path']))} — label: <b>{escape(label)}</b>")
        try:
            self.image.value = _thumbnail(row["image_path"])
        except ImageError as e:  # moved or unreadable since the run: the answers can still be labelled
            self.image.value = b""
            self.status.value = f"(the image cannot be shown: {escape(str(e))})"
        rows = "".join(f"<tr><td>{escape(m)}</td><td>{escape(a or '—')}</td></tr>" for m, a in row["answers"].items())
        self.answers.value = f"<table><tr><th>model</th><th>answer</th></tr>{rows}</table>"


def _name(path: str) -> str:
    return str(path).replace("\\", "/").rsplit("/", 1)[-1]
