"""Metrics against numbers worked out by hand on small fixed sets (the arithmetic is in the comments)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from workbench.errors import ConfigError
from workbench.evaluate import (agreement, attach_labels, calibration, classification_metrics, cohen_kappa,
                                confusion_matrix, evaluate_run, format_compliance, latency_cost, per_class_metrics,
                                prompt_changes, quadratic_weighted_kappa, rating_metrics, reliability_table,
                                threshold_curve)


def frame(rows: list[dict], task: str = "pothole_severity") -> pd.DataFrame:
    base = {"model": "A", "prompt_version": "v1", "status": "ok", "variables": {}, "probabilities": None,
            "cost": None, "cached": False, "latency_s": 1.0, "raw_text": "", "task": task}
    out = []
    for i, r in enumerate(rows):
        out.append({**base, "image_path": f"/imgs/{i}.jpg", **r})
    return pd.DataFrame(out)


POTHOLES = frame([
    {"expected": "minor", "label": "minor"},
    {"expected": "minor", "label": "moderate"},
    {"expected": "moderate", "label": "moderate"},
    {"expected": "severe", "label": "severe"},
    {"expected": "severe", "label": None, "status": "error"},
    {"expected": "no_pothole", "label": "no_pothole"},
])


def test_accuracy_per_class_and_macro_f1():
    # 4 of 6 right (the failure counts as wrong).
    # minor: TP 1, predicted 1, true 2 → P 1, R .5, F1 2/3;  moderate: TP 1, predicted 2, true 1 → P .5, R 1, F1 2/3
    # no_pothole: P 1, R 1, F1 1;  severe: TP 1, predicted 1, true 2 → P 1, R .5, F1 2/3.  macro-F1 = 3/4.
    metrics = classification_metrics(POTHOLES).iloc[0]
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["macro_f1"] == pytest.approx(0.75)
    assert metrics["answered"] == pytest.approx(5 / 6)
    per_class = per_class_metrics(POTHOLES).set_index("class")
    assert per_class.loc["minor", ["precision", "recall", "f1", "support"]].tolist() == pytest.approx(
        [1.0, 0.5, 2 / 3, 2])
    assert per_class.loc["moderate", ["precision", "recall"]].tolist() == pytest.approx([0.5, 1.0])
    assert per_class.loc["no_pothole", "f1"] == 1.0


def test_confusion_matrix_keeps_failures_in_their_own_column():
    table = confusion_matrix(POTHOLES)
    assert list(table.index) == ["minor", "moderate", "no_pothole", "severe"]
    assert list(table.columns) == ["minor", "moderate", "no_pothole", "severe", "(no answer)"]
    assert table.loc["minor"].tolist() == [1, 1, 0, 0, 0]
    assert table.loc["severe"].tolist() == [0, 0, 0, 1, 1]
    assert table.to_numpy().sum() == 6


def test_ratings_mae_within_one_and_quadratic_weighted_kappa():
    # expected 0..5, predicted [0,2,2,5,4,3]: |errors| = [0,1,0,2,0,2] → MAE 5/6, within one 4/6.
    # QWK, k = 6, w = (i-j)²/25: Σw·O = (1+4+4)/25 = .36. Row sums all 1, column sums b = [1,0,2,1,1,1];
    # Σw·E = Σ_j b_j·Σ_i (i-j)² / (6·25) = (55 + 2·19 + 19 + 31 + 55) / 150 = 198/150 = 1.32
    # → κ = 1 - .36/1.32.
    ratings = frame([{"expected": str(e), "label": str(p)} for e, p in zip(range(6), [0, 2, 2, 5, 4, 3])],
                    task="tag_rating")
    row = rating_metrics(ratings).iloc[0]
    assert row["rated"] == 6
    assert row["mae"] == pytest.approx(5 / 6)
    assert row["within_1"] == pytest.approx(4 / 6)
    assert row["qwk"] == pytest.approx(1 - 0.36 / 1.32)
    assert quadratic_weighted_kappa([0, 3, 5], [0, 3, 5]) == pytest.approx(1.0)


def test_cohen_kappa_between_models_without_labels():
    # a = t t f f t f, b = t f f f t t: observed 4/6, chance .5·.5 + .5·.5 = .5 → κ = (2/3 - 1/2) / (1/2) = 1/3
    a, b = ["true", "true", "false", "false", "true", "false"], ["true", "false", "false", "false", "true", "true"]
    assert cohen_kappa(a, b) == pytest.approx(1 / 3)
    both = pd.concat([frame([{"label": x} for x in a], "moderation").assign(model="A"),
                      frame([{"label": x} for x in b], "moderation").assign(model="B")])
    table = agreement(both)
    assert table[["model_a", "model_b", "n"]].iloc[0].tolist() == ["A", "B", 6]
    assert table["agreement"].iloc[0] == pytest.approx(4 / 6)
    assert table["kappa"].iloc[0] == pytest.approx(1 / 3)


SCORED = frame([
    {"expected": "true", "label": "true", "probabilities": {"true": 0.9, "false": 0.1}},
    {"expected": "false", "label": "true", "probabilities": {"true": 0.8, "false": 0.2}},
    {"expected": "false", "label": "false", "probabilities": {"true": 0.3, "false": 0.7}},
    {"expected": "true", "label": "false", "probabilities": {"true": 0.45, "false": 0.55}},
], task="moderation")


def test_expected_calibration_error_and_reliability_bins():
    # Confidences .9 (right), .8 (wrong), .7 (right), .55 (wrong), one per bin:
    # ECE = (|1-.9| + |0-.8| + |1-.7| + |0-.55|) / 4 = 1.75 / 4
    assert calibration(SCORED)["ece"].iloc[0] == pytest.approx(0.4375)
    bins = reliability_table(SCORED).set_index("bin")
    assert bins.loc[[5, 7, 8, 9], "n"].tolist() == [1, 1, 1, 1]
    assert bins.loc[8, "accuracy"] == 0.0 and bins.loc[9, "confidence"] == pytest.approx(0.9)
    assert math.isnan(bins.loc[0, "accuracy"])


def test_precision_recall_as_the_flag_threshold_moves():
    # p(true) = .9 .8 .3 .45 with truth T F F T.  t=.3: all flagged → P 2/4, R 2/2.  t=.5: {.9,.8} → P 1/2, R 1/2.
    # t=.85: {.9} → P 1, R 1/2.  t=.95: nothing flagged → P undefined, R 0.
    curve = threshold_curve(SCORED, thresholds=[0.3, 0.5, 0.85, 0.95]).set_index("threshold")
    assert curve.loc[0.3, ["precision", "recall"]].tolist() == pytest.approx([0.5, 1.0])
    assert curve.loc[0.5, ["precision", "recall"]].tolist() == pytest.approx([0.5, 0.5])
    assert curve.loc[0.85, ["precision", "recall"]].tolist() == pytest.approx([1.0, 0.5])
    assert math.isnan(curve.loc[0.95, "precision"]) and curve.loc[0.95, "recall"] == 0.0


def test_format_compliance_latency_and_cost_per_thousand():
    # statuses ok ok repaired invalid_output error → .4 .2 .2 .2
    # latencies of answered items 1 2 3 4 → p50 2.5; p95 = 3 + .85·(4-3) = 3.85 (linear, as numpy)
    # costs .001 .002 — .003 (one cached) → per item .002 → $2 per 1,000; spent excludes the cached .003
    results = frame([
        {"status": "ok", "latency_s": 1.0, "cost": 0.001},
        {"status": "ok", "latency_s": 2.0, "cost": 0.002},
        {"status": "repaired", "latency_s": 3.0, "cost": None},
        {"status": "invalid_output", "latency_s": 4.0, "cost": 0.003, "cached": True},
        {"status": "error", "latency_s": 30.0, "cost": None},
    ])
    compliance = format_compliance(results).iloc[0]
    assert compliance[["n", "ok", "repaired", "invalid_output", "error"]].tolist() == pytest.approx(
        [5, 0.4, 0.2, 0.2, 0.2])
    costs = latency_cost(results).iloc[0]
    assert costs["latency_p50_s"] == pytest.approx(2.5)
    assert costs["latency_p95_s"] == pytest.approx(3.85)
    assert costs["total_cost_usd"] == pytest.approx(0.006)
    assert costs["cost_per_1k_usd"] == pytest.approx(2.0)
    assert costs["priced"] == 3 and costs["spent_usd"] == pytest.approx(0.003)
    unknown = latency_cost(frame([{"cost": None}, {"cost": None}])).iloc[0]
    assert np.isnan(unknown["cost_per_1k_usd"])  # unknown is not zero


def test_images_whose_verdict_changed_between_prompt_versions():
    v1 = frame([{"label": "minor", "raw_text": "a1"}, {"label": "severe", "raw_text": "b1"},
                {"label": "minor", "raw_text": "c1"}])
    v2 = frame([{"label": "minor", "raw_text": "a2"}, {"label": "moderate", "raw_text": "b2"},
                {"label": None, "status": "error", "raw_text": ""}]).assign(prompt_version="v2")
    changes = prompt_changes(pd.concat([v1, v2]), "v1", "v2")
    assert changes["image_path"].tolist() == ["/imgs/1.jpg", "/imgs/2.jpg"]
    assert changes[["label_a", "label_b", "raw_text_a", "raw_text_b"]].iloc[0].tolist() == [
        "severe", "moderate", "b1", "b2"]
    assert changes["label_b"].iloc[1] is None


def test_labels_csv_with_task_and_tag_columns(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,task,label,tag\npark.jpg,tag_rating,4,tree\npark.jpg,tag_rating,0,car\n"
                      "park.jpg,moderation,false,\n")
    results = frame([{"image_path": str(tmp_path / "park.jpg"), "variables": {"tag": "tree"}, "label": "3"},
                     {"image_path": "/elsewhere/park.jpg", "variables": {"tag": "car"}, "label": "0"}],
                    task="tag_rating")
    labelled = attach_labels(results, labels)
    assert labelled["expected"].tolist() == ["4", "0"]  # by path, then by file name; the tag picks the row


def test_evaluate_run_bundles_tables_and_figures():
    both = pd.concat([POTHOLES, POTHOLES.assign(model="B", label="minor")])
    evaluation = evaluate_run(both)
    assert list(evaluation.summary["model"]) == ["A", "B"]
    assert evaluation.summary.set_index("model").loc["B", "accuracy"] == pytest.approx(2 / 6)
    assert set(evaluation.confusion) == {("A", "v1"), ("B", "v1")}
    figures = evaluation.figures()
    assert set(figures) == {"confusion"} and isinstance(figures["confusion"], Figure)
    scored = evaluate_run(SCORED)
    assert set(scored.figures()) == {"confusion", "reliability", "thresholds"}
    assert "summary" in scored.tables() and "ece" in scored.summary


# --- numbers that match the references: defects found against scikit-learn ---------------------------------

sklearn_metrics = pytest.importorskip("sklearn.metrics")


def test_a_blank_label_cell_is_unlabelled_from_a_dataframe_as_from_a_csv(tmp_path):
    # Three labelled images (2 right) and one blank cell: accuracy 2/3 on either path, never a class "nan".
    (tmp_path / "labels.csv").write_text("file,label\na.jpg,minor\nb.jpg,severe\nc.jpg,minor\nd.jpg,\n")
    results = frame([{"image_path": str(tmp_path / f"{n}.jpg"), "label": "minor"} for n in "abcd"])
    by_path = attach_labels(results, tmp_path / "labels.csv")
    by_frame = attach_labels(results, pd.read_csv(tmp_path / "labels.csv"))
    for labelled in (by_path, by_frame):
        assert labelled["expected"].tolist() == ["minor", "severe", "minor", None]
        assert classification_metrics(labelled)["accuracy"].iloc[0] == pytest.approx(2 / 3)
        assert "nan" not in confusion_matrix(labelled).index


def test_a_blank_label_in_a_dataframe_given_to_a_batch_is_no_label(tmp_path):
    from workbench.batch import BatchInput, with_labels

    labels = pd.DataFrame({"file": ["a.jpg", "b.jpg"], "label": [1, None], "tag": ["tree", None]})  # 1.0, NaN
    inputs = with_labels([BatchInput(str(tmp_path / "a.jpg")), BatchInput(str(tmp_path / "b.jpg"))], labels)
    assert [(i.label, i.variables) for i in inputs] == [("1", {"tag": "tree"}), (None, {})]


def test_float_labels_match_integer_answers_per_task_kind():
    # pandas reads an integer column with a hole as floats: 1.0 and "1.0" are the rating 1, as the answer "1".
    ratings = frame([{"expected": e, "label": p} for e, p in [(1.0, "1"), ("1.0", "1"), ("3", "3.0"), (4.0, "2")]],
                    task="tag_rating")
    assert classification_metrics(ratings)["accuracy"].iloc[0] == pytest.approx(3 / 4)
    assert rating_metrics(ratings)["mae"].iloc[0] == pytest.approx(2 / 4)
    assert list(confusion_matrix(ratings).index) == ["1", "3", "4", "2"]  # no "1.0" row beside "1"
    classes = frame([{"expected": " Minor ", "label": "minor"}, {"expected": float("nan"), "label": "minor"}])
    assert classification_metrics(classes)[["labelled", "accuracy"]].iloc[0].tolist() == [1, 1.0]


def test_off_scale_ratings_are_excluded_and_counted_never_clipped_into_a_perfect_kappa():
    # 7 and −2 against 5 and 0 used to be clipped to 5 and 0: QWK 1.0 beside MAE 1.33.
    ratings = frame([{"expected": e, "label": p} for e, p in [("5", "7"), ("0", "-2"), ("3", "3"), ("2", "4")]],
                    task="tag_rating")
    row = rating_metrics(ratings).iloc[0]
    assert (row["rated"], row["excluded"]) == (2, 2)
    assert row["mae"] == pytest.approx(1.0) and row["qwk"] != pytest.approx(1.0)
    with pytest.raises(ConfigError, match="levels="):
        quadratic_weighted_kappa([5, 0, 3], [7, -2, 3])
    with pytest.raises(ConfigError, match="whole numbers"):
        quadratic_weighted_kappa([2.5, 3], [2, 3])  # half points are not rounded (to even) either
    only_off = frame([{"expected": "5", "label": "7"}], task="tag_rating")
    assert math.isnan(rating_metrics(only_off)["qwk"].iloc[0])


@pytest.mark.parametrize("seed", range(40))
def test_qwk_and_kappa_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    a, b = rng.integers(0, 6, n), rng.integers(0, 6, n)
    ours = quadratic_weighted_kappa(a, b)
    theirs = sklearn_metrics.cohen_kappa_score(a, b, weights="quadratic", labels=list(range(6)))
    assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs)
    x, y = [str(v) for v in rng.integers(0, 3, n)], [str(v) for v in rng.integers(0, 3, n)]
    ours, theirs = cohen_kappa(x, y), sklearn_metrics.cohen_kappa_score(x, y)
    assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs)


def test_kappa_of_two_models_that_always_give_one_answer_is_undefined():
    with pytest.warns(UserWarning):  # scikit-learn warns that kappa is undefined here, and gives NaN
        assert math.isnan(sklearn_metrics.cohen_kappa_score(["true"] * 4, ["true"] * 4))
    assert math.isnan(cohen_kappa(["true"] * 4, ["true"] * 4))
    both = pd.concat([frame([{"label": "true"}] * 4, "moderation").assign(model=m) for m in ("A", "B")])
    table = agreement(both)
    assert table["agreement"].iloc[0] == 1.0 and math.isnan(table["kappa"].iloc[0])


@pytest.mark.parametrize("probabilities", [{"true": 90, "false": 10}, {"true": 1.2, "false": -0.2},
                                           {"true": "high"}])
def test_probabilities_outside_zero_to_one_are_rejected_with_a_message(probabilities):
    scored = frame([{"expected": "true", "label": "true", "probabilities": probabilities}], task="moderation")
    with pytest.raises(ConfigError, match="between 0 and 1"):
        calibration(scored)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        evaluate_run(scored)


def test_metrics_follow_the_task_kind_and_positive_label_not_its_name():
    from workbench.tasks import get_task

    definition = {**get_task("tag_rating").definition(), "name": "stars", "labels": ["1", "2", "3"]}
    stars = frame([{"expected": e, "label": p} for e, p in [("1", "1"), ("3", "2")]], task="stars")
    stars.attrs["task_definition"] = definition  # as `open_run` gives it for a run of a task not registered here
    assert evaluate_run(stars).ratings[["rated", "mae"]].iloc[0].tolist() == [2, 0.5]
    with pytest.raises(ConfigError, match=r"from 1 to 3"):
        quadratic_weighted_kappa([0], [1], levels=(1, 3))
    flagged = {**get_task("moderation").definition(), "name": "spam", "positive": "false"}
    spam = SCORED.assign(task="spam")
    spam.attrs["task_definition"] = flagged
    curve = threshold_curve(spam, thresholds=[0.5]).iloc[0]  # p(false) = .1 .2 .7 .55, truth F at 2 and 3
    assert curve[["flagged", "precision", "recall"]].tolist() == pytest.approx([2, 0.5, 0.5])
