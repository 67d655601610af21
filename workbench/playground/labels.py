"""The playground's labelling: a minimal way to set a run's true labels from a notebook (the app's Label tab is
the full view)."""
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
