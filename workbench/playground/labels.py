"""The playground's labelling: a run's true labels from a notebook — one at a time in a panel (`label_view`), or
one call per label (the app's Label tab is the same in the browser)."""
from __future__ import annotations


class RunLabels:
    """Playground methods for labelling a run's images (a part of Playground, not used alone)."""

    def label_queue(self, run_id: str, db=None):
        """The run's images, where a label teaches most first (see workbench.label_queue)."""
        from ..labels import label_queue

        return label_queue(run_id, db=db)

    def label(self, run_id: str, image: str, label, *, who: str = "notebook", db=None) -> str:
        """Store `label` as the truth for `image` of the run; every metric and recommendation then uses it."""
        from ..labels import set_label

        return set_label(run_id, image, label, who=who, db=db)

    def label_view(self, run_id: str, *, who: str = "notebook", db=None):
        """The run's images one at a time, the models' answers beside each, one button per label (a LabelView)."""
        from .label_view import LabelView

        return LabelView(run_id, who=who, db=db)
