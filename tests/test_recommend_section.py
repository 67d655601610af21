"""The Batch tab's Recommendation section, its handler called directly (the browser drives it in
test_label_tab.py): labels set by a person are enough for a pick, a bad bar names the fix."""
from __future__ import annotations

import gradio as gr
import pytest

import workbench
from tests.test_labels import labelled_run  # noqa: F401 — the fixture
from workbench.ui.recommend_section import recommend_for_run


def test_labels_set_by_hand_give_a_pick_and_a_frontier_plot(labelled_run):  # noqa: F811
    db, run, images = labelled_run
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_DB", str(db))
        with pytest.raises(gr.Error, match="Label tab"):  # no labels yet: say where to get them
            recommend_for_run(run, "accuracy>=0.9")
        for name, label in (("split", "true"), ("unsure", "true"), ("sure", "false")):
            workbench.set_label(run, str(images[name]), label, db=db)
        text, figure = recommend_for_run(run, "accuracy>=0.9")
        assert text.startswith("**Pick: ") and "m1" in text.splitlines()[0]
        assert figure.axes
        with pytest.raises(gr.Error, match="METRIC>=VALUE"):
            recommend_for_run(run, "fast please")
