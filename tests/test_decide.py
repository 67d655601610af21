"""From numbers to a decision, on real runs: run_batch against the scripted server, whose answers are set per
image and per model, so the right answer is known and the recommendation can be worked out by hand.

The scenario (pothole_severity, 20 labelled images, prices per image):
    cheap   $0.10 / 1,000   generate: right on images 0–11 (12/20);  score mode: the most probable label is right
            on images 0–13 (14/20) with top probability .85–.99, wrong on 14–19 with .40 .50 .55 .60 .70 .80
    mid     $1.00 / 1,000   right on all but images 0 and 1 (18/20)
    big     $10.0 / 1,000   right on all 20
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import workbench
from workbench.batch import run_batch
from workbench.cli import main
from workbench.decide import (cascade_curve, mcnemar_test, paired_bootstrap, paired_test, parse_bar, parse_bars,
                              recommend, wilson_interval)
from workbench.decide.configs import configurations, load_results
from workbench.decide.confidence import bootstrap_interval
from workbench.decide.quality import statistic
from workbench.errors import ConfigError
from workbench.models import ModelSpec, PriceOverride

from .fault_server import FaultServer

N = 20
CLASSES = ("no_pothole", "minor", "moderate", "severe")
TRUTH = [CLASSES[i % 4] for i in range(N)]
PRICE = {"cheap": 0.0001, "mid": 0.001, "big": 0.01}  # $ per image
WRONG_CONF = {14: 0.40, 15: 0.50, 16: 0.55, 17: 0.60, 18: 0.70, 19: 0.80}
RIGHT_CONF = [0.85 + 0.01 * i for i in range(14)]  # images 0–13: .85 … .98


def other(label: str) -> str:
    return CLASSES[(CLASSES.index(label) + 1) % 4]


def answer(label: str) -> str:
    return json.dumps({"severity": label, "reason": "scripted"})


def make_images(folder: Path) -> list[Path]:
    """Blocks of seeded random colours: distinct enough to be told apart after resizing and JPEG."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(N):
        blocks = np.random.default_rng(i).integers(0, 256, (4, 4, 3), dtype=np.uint8)
        path = folder / f"road{i:02d}.png"
        Image.fromarray(blocks).resize((64, 64), Image.NEAREST).save(path)
        paths.append(path)
    return paths


def script(server: FaultServer, paths: list[Path]) -> None:
    for i, (path, truth) in enumerate(zip(paths, TRUTH)):
        server.images[path.name] = path
        server.answers[("cheap", path.name)] = answer(truth if i < 12 else other(truth))
        server.answers[("mid", path.name)] = answer(truth if i >= 2 else other(truth))
        server.answers[("big", path.name)] = answer(truth)
        top, conf = (truth, RIGHT_CONF[i]) if i < 14 else (other(truth), WRONG_CONF[i])
        letters = dict(zip(CLASSES, "ABCD"))
        rest = [c for c in CLASSES if c != top]
        server.label_probs[("cheap", path.name)] = {letters[top]: conf, **{letters[c]: (1 - conf) / 3 for c in rest}}


def spec(server: FaultServer, model: str) -> ModelSpec:
    # provider vllm: an OpenAI-compatible server that returns logprobs, so score mode asks for them
    return ModelSpec(name=model, provider="vllm", base_url=server.url, model=model, timeout=10, local=False,
                     price=PriceOverride(input_per_m=0, output_per_m=0, per_image=PRICE[model]))


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("decide")
    paths = make_images(root / "roads")
    labels = root / "labels.csv"
    pd.DataFrame({"file": [p.name for p in paths], "label": TRUTH}).to_csv(labels, index=False)
    with FaultServer() as server:
        script(server, paths)
        specs = {m: spec(server, m) for m in PRICE}
        db = root / "wb.db"
        generated = run_batch(root / "roads", "pothole_severity", list(specs.values()), labels=labels, db=db,
                              progress=False)
        scored = run_batch(root / "roads", "pothole_severity", [specs["cheap"]], labels=labels, db=db,
                           mode="score", progress=False)
        yield {"server": server, "specs": specs, "paths": paths, "labels": labels, "db": db, "root": root,
               "runs": [generated.run_id, scored.run_id]}


# --- the recommendation, by hand ------------------------------------------------------------------------------


def test_the_cheapest_configuration_that_meets_the_bar_is_the_hand_computed_cascade(scenario):
    rec = recommend(scenario["runs"], "accuracy>=0.9", db=scenario["db"])
    points = rec.points.set_index("configuration")
    # Alone: cheap 12/20, cheap·score 14/20, mid 18/20 ($1.00), big 20/20 ($10).
    assert points.loc["cheap", "quality"] == pytest.approx(0.6)
    assert points.loc["cheap · score", "quality"] == pytest.approx(0.7)
    assert points.loc["mid", ["quality", "cost_per_1k_usd"]].tolist() == pytest.approx([0.9, 1.0])
    assert points.loc["big", ["quality", "cost_per_1k_usd"]].tolist() == pytest.approx([1.0, 10.0])
    # cheap·score → mid, escalating below t: the four least sure (.40 .50 .55 .60) go to mid, which gets them right,
    # so t = .70 reaches 18/20 for $0.10 + 4/20 · $1.00 = $0.30 per 1,000 — cheaper than mid alone.
    assert rec.pick == "cheap · score → mid below p=0.7"
    assert points.loc[rec.pick, ["quality", "cost_per_1k_usd", "escalated"]].tolist() == pytest.approx(
        [0.9, 0.3, 0.2])
    assert rec.reason.startswith(f"Use {rec.pick}: the cheapest that meets accuracy ≥ 0.9 on 20 labelled images")
    # Wilson on 18/20 reaches below .9, and the runner-up cannot be told apart on 20 images
    assert "may fall short" in rec.reason and "within noise on 20 images" in rec.reason
    assert rec.comparisons and all(t.n == 20 for t in rec.comparisons)


def test_models_only_the_pick_is_mid_and_a_rating_bar_names_its_metric(scenario):
    rec = recommend(scenario["runs"][0], "accuracy>=0.9", db=scenario["db"])  # no scored run: no cascade
    assert rec.pick == "mid"
    assert "No cascade: no configuration gives label probabilities" in rec.reason
    rec = recommend(scenario["runs"], ["recall[severe]>=0.95", "p95<=30s"], db=scenario["db"])
    # severe images are 3, 7, 11, 15, 19: cheap·score misses 15 and 19 (recall 3/5); mid finds all five ($1.00).
    # cheap·score → mid must escalate 15 (.50) and 19 (.80): t = .85, escalating all six wrong: $0.10 + $0.30.
    assert rec.metric == "recall[severe]"
    assert rec.pick == "cheap · score → mid below p=0.85"
    assert rec.points.set_index("configuration").loc[rec.pick, "cost_per_1k_usd"] == pytest.approx(0.4)


def test_none_meets_the_bar_then_the_closest_is_named(scenario):
    rec = recommend(scenario["runs"], "accuracy>=0.9, cost<=0.2", db=scenario["db"])
    # Shortfalls (relative): t=.55 → 16/20 for $0.20: (.9-.8)/.9 = .111, the smallest
    assert rec.pick is None and rec.closest == "cheap · score → mid below p=0.55"
    assert rec.reason.startswith("None meets accuracy ≥ 0.9 and cost ≤ $0.2 on 20 labelled images; the closest is "
                                 "cheap · score → mid below p=0.55")


def test_the_frontier_matches_a_brute_force_computation(scenario):
    rec = recommend(scenario["runs"], "accuracy>=0.9", db=scenario["db"], human_cost=0.05)
    pts = rec.points.to_dict("records")
    for p in pts:
        lat = lambda x: math.inf if math.isnan(x["latency_p95_s"]) else x["latency_p95_s"]  # noqa: E731
        dominated = any(q is not p and q["quality"] >= p["quality"] and q["cost_per_1k_usd"] <= p["cost_per_1k_usd"]
                        and lat(q) <= lat(p) and (q["quality"] > p["quality"] or q["cost_per_1k_usd"]
                                                  < p["cost_per_1k_usd"] or lat(q) < lat(p)) for q in pts)
        assert p["on_frontier"] == (not dominated), p["configuration"]
    assert set(rec.frontier["configuration"]) <= set(rec.points["configuration"])
    assert "big" in set(rec.points["configuration"])  # every configuration is a point, on the frontier or not
    assert rec.pick in set(rec.frontier["configuration"])  # the cheapest that meets a quality bar is never beaten


def test_human_review_cascade_costs_the_review_price(scenario):
    rec = recommend(scenario["runs"], "accuracy>=0.9", db=scenario["db"], human_cost=0.05)
    curve = rec.cascades[(rec.cascades["first"] == "cheap · score") & (rec.cascades["second"] == "a person")]
    row = curve.set_index("threshold").loc[0.7]
    # four reviews at $0.05 on 20 images, plus the cheap calls: $0.10 + 4/20 · $50 = $10.10 per 1,000
    assert row[["n", "escalated", "accuracy", "cost_per_1k_usd"]].tolist() == pytest.approx([20, 0.2, 0.9, 10.1])
    assert "human review" in set(rec.points["kind"])
    assert "A person's review ($0.05 each) is counted as right" in rec.reason
    humans = rec.points[rec.points["kind"] == "human review"]
    assert humans["latency_p95_s"].isna().all()  # how long a person takes is unknown, not zero


def test_a_simulated_cascade_equals_a_real_run_of_it(scenario, tmp_path):
    t = 0.7
    specs, labels = scenario["specs"], scenario["labels"]
    configs = {c.name: c for c in configurations(load_results(scenario["runs"], db=scenario["db"]))}
    simulated = cascade_curve(configs["cheap · score"], configs["mid"]).set_index("threshold").loc[t]
    # The real cascade, in a fresh store: the cheap model on every image, then mid on those below t only.
    db = tmp_path / "cascade.db"
    first = run_batch(scenario["root"] / "roads", "pothole_severity", [specs["cheap"]], labels=labels, db=db,
                      mode="score", progress=False).results()
    top = first["probabilities"].map(lambda p: max(p.values()))
    escalated = first.loc[top < t, "image_path"].tolist()
    assert len(escalated) == 4
    second = run_batch(escalated, "pothole_severity", [specs["mid"]], labels=labels, db=db,
                       progress=False).results()
    final = first.set_index("image_path")["label"].copy()
    final.loc[second["image_path"]] = second["label"].to_numpy()
    truth = first.set_index("image_path")["expected"]
    accuracy = float((final == truth).mean())
    cost_per_1k = (first["cost"].sum() + second["cost"].sum()) / len(first) * 1000
    assert accuracy == pytest.approx(simulated["accuracy"])
    assert cost_per_1k == pytest.approx(simulated["cost_per_1k_usd"])
    assert simulated["escalated"] == pytest.approx(len(escalated) / N)


def test_plots_are_figures(scenario):
    from matplotlib.figure import Figure

    rec = workbench.recommend(scenario["runs"], "accuracy>=0.9", db=scenario["db"])
    assert isinstance(rec.plot(), Figure) and isinstance(rec.plot_cascades(), Figure)
    assert len(rec.plot().axes[0].collections) >= 1


# --- the CLI --------------------------------------------------------------------------------------------------


def test_cli_recommend_prints_the_pick_and_exits_0(scenario, capsys, tmp_path):
    args = ["recommend", *scenario["runs"], "--bar", "accuracy>=0.9", "--db", str(scenario["db"])]
    assert main(args + ["--json", "--out", str(tmp_path / "out")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["pick"] == "cheap · score → mid below p=0.7" and data["comparisons"]
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"points.csv", "frontier.png", "cascades.png"}
    assert main(args + ["--human-cost", "0.05"]) == 0
    assert "Use cheap · score → mid below p=0.7" in capsys.readouterr().out
    assert main(args + ["--human-cost", "-1"]) == 2
    assert "price of a human review must be a number ≥ 0" in capsys.readouterr().err


@pytest.mark.parametrize("bar, message", [
    ("speed>=3", "unknown metric 'speed'"),
    ("accuracy<=0.9", "accuracy is better higher"),
    ("recall>=0.9", "recall is per class"),
    ("accuracy 0.9", "cannot read the bar"),
])
def test_cli_bad_bar_exits_2_with_a_message(scenario, capsys, bar, message):
    assert main(["recommend", scenario["runs"][0], "--bar", bar, "--db", str(scenario["db"])]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("workbench: error:")


def test_unknown_class_names_the_classes(scenario):
    with pytest.raises(ConfigError, match="no class 'huge'.*minor, moderate, no_pothole, severe"):
        recommend(scenario["runs"], "recall[huge]>=0.9", db=scenario["db"])


# --- the bar ------------------------------------------------------------------------------------------------


def test_bar_parser_reads_units_and_aliases():
    assert parse_bar("recall[Severe] >= 95%") == parse_bar("recall[severe]>=0.95")
    assert parse_bar("p95<=2s").value == 2.0 and parse_bar("p95 <= 1500ms").value == 1.5
    assert parse_bar("kappa>=0.6").metric == "qwk" and parse_bar("cost_per_1k<=$1.5").value == 1.5
    assert [b.name for b in parse_bars("accuracy>=0.9 and p95<=2s")] == ["accuracy", "p95"]
    assert [b.name for b in parse_bars(["recall[no_pothole]>=0.9, cost<=1", "mae<=0.5"])] == [
        "recall[no_pothole]", "cost", "mae"]
    with pytest.raises(ConfigError, match="accuracy, macro_f1, recall\\[class\\]"):
        parse_bar("acuracy>=0.9")


# --- intervals and paired tests against scipy / statsmodels ---------------------------------------------------

@pytest.fixture
def scipy_stats():
    return pytest.importorskip("scipy.stats")  # requirements-dev.txt; only these reference checks need it


@pytest.fixture
def statsmodels_proportion():
    return pytest.importorskip("statsmodels.stats.proportion")


@pytest.fixture
def statsmodels_tables():
    return pytest.importorskip("statsmodels.stats.contingency_tables")


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (18, 20), (20, 20), (37, 40), (150, 300)])
def test_wilson_interval_matches_statsmodels(statsmodels_proportion, k, n):
    low, high = statsmodels_proportion.proportion_confint(k, n, alpha=0.05, method="wilson")
    interval = wilson_interval(k, n)
    assert (interval.low, interval.high) == pytest.approx((low, high), abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mcnemar_exact_matches_statsmodels(statsmodels_tables, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.random(60) < 0.8, rng.random(60) < 0.7
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    expected = statsmodels_tables.mcnemar(table, exact=True).pvalue
    test = mcnemar_test(a, b)
    assert test.p_value == pytest.approx(expected, abs=1e-6)
    assert test.difference == pytest.approx(a.mean() - b.mean())
    # paired Wald interval by hand: (b−c)/n ± 1.96·√(b+c − (b−c)²/n)/n
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    half = 1.959964 * math.sqrt(only_a + only_b - (only_a - only_b) ** 2 / 60) / 60
    assert (test.low, test.high) == pytest.approx((test.difference - half, test.difference + half), abs=1e-6)


def test_within_noise_says_how_many_more_images_would_settle_it():
    # 40 images, A alone right on 4, B alone right on 2: discordance .15, difference .05.
    # Connor: n = (1.96·√.15 + 0.8416·√(.15 − .0025))² / .0025 = 467.3 → 468 − 40 = 428 more
    a = np.array([1] * 30 + [1] * 4 + [0] * 2 + [0] * 4, dtype=bool)
    b = np.array([1] * 30 + [0] * 4 + [1] * 2 + [0] * 4, dtype=bool)
    test = mcnemar_test(a, b)
    assert not test.separated and test.discordant == 6
    needed = (1.959964 * math.sqrt(0.15) + 0.841621 * math.sqrt(0.15 - 0.0025)) ** 2 / 0.0025
    assert test.more_images == math.ceil(needed) - 40


def _mc_tolerance(interval_of) -> float:
    """Monte Carlo error of a bootstrap endpoint: 4 standard deviations over three seeds (plus a floor)."""
    ends = np.array([interval_of(seed) for seed in range(3)])
    return float(4 * ends.std(axis=0).max() + 0.02)


def test_bootstrap_interval_of_mae_matches_scipy_within_monte_carlo_error(scipy_stats):
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 6, 80)
    pred = np.clip(truth + rng.integers(-2, 3, 80), 0, 5)
    t, p = truth.astype(float), pred.astype(float)

    def ours(seed):
        iv = bootstrap_interval(lambda idx: statistic(t[idx], p[idx], "mae"), 80, resamples=4000, seed=seed)
        return iv.low, iv.high

    ref = scipy_stats.bootstrap((truth, pred), lambda a, b: np.mean(np.abs(a - b)), paired=True, vectorized=False,
                                n_resamples=4000, method="percentile", random_state=1).confidence_interval
    tolerance = _mc_tolerance(ours)
    assert ours(0) == pytest.approx((ref.low, ref.high), abs=tolerance)


def test_paired_bootstrap_of_mae_and_kappa_differences_matches_scipy(scipy_stats):
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 6, 60)
    a = np.clip(truth + rng.integers(-1, 2, 60), 0, 5)
    b = np.clip(truth + rng.integers(-2, 3, 60), 0, 5)
    t, pa, pb = (x.astype(float) for x in (truth, a, b))
    for metric, reference in (("mae", lambda x, y, z: np.mean(np.abs(x - y)) - np.mean(np.abs(x - z))),
                              ("qwk", lambda x, y, z: workbench.evaluate.quadratic_weighted_kappa(x, y)
                               - workbench.evaluate.quadratic_weighted_kappa(x, z))):
        def ours(seed, metric=metric):
            test = paired_bootstrap(lambda idx: statistic(t[idx], pa[idx], metric),
                                    lambda idx: statistic(t[idx], pb[idx], metric), 60, metric, resamples=2000,
                                    seed=seed)
            return test.low, test.high

        ref = scipy_stats.bootstrap((truth, a, b), reference, paired=True, vectorized=False, n_resamples=2000,
                                    method="percentile", random_state=2).confidence_interval
        assert ours(0) == pytest.approx((ref.low, ref.high), abs=_mc_tolerance(ours)), metric


def test_paired_test_on_stored_runs_uses_mcnemar_for_accuracy(scenario):
    configs = {c.name: c for c in configurations(load_results(scenario["runs"], db=scenario["db"]))}
    test = paired_test(configs["big"].answers, configs["cheap"].answers, "accuracy", name_a="big", name_b="cheap")
    # big right on all 20, cheap wrong on 8: 8 discordant, all one way → p = 2 · .5⁸ = 1/128
    assert (test.n, test.discordant, test.method) == (20, 8, "McNemar exact")
    assert test.p_value == pytest.approx(2 / 2 ** 8) and test.separated
    assert test.difference == pytest.approx(0.4)


# --- the sample images, and unknown prices ------------------------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
SAMPLE_TRUTH = {"road_pothole_severe.jpg": "severe", "road_pothole_moderate.jpg": "moderate",
                "road_pothole_minor.jpg": "minor", "road_clear.jpg": "no_pothole"}


def test_recommendation_over_the_sample_images_and_an_unpriced_model(tmp_path):
    # a ($0.10/1k) right on severe and minor; b ($1) right on all but minor; c ($5) right on all four;
    # d: no price, right on all four.  accuracy ≥ .75 → b (3/4); accuracy ≥ 1 → c, not the unpriced d;
    # recall[severe] ≥ 1 → a, the cheapest that finds the severe pothole.
    wrong = {"a": {"road_pothole_moderate.jpg", "road_clear.jpg"}, "b": {"road_pothole_minor.jpg"}, "c": set(),
             "d": set()}
    prices = {"a": 0.0001, "b": 0.001, "c": 0.005, "d": None}
    with FaultServer() as server:
        for name, truth in SAMPLE_TRUTH.items():
            server.images[name] = SAMPLES / name
            for model in wrong:
                server.answers[(model, name)] = answer(other(truth) if name in wrong[model] else truth)
        specs = [ModelSpec(name=m, provider="custom", base_url=server.url, model=m, timeout=10, local=False,
                           price=None if prices[m] is None else PriceOverride(input_per_m=0, output_per_m=0,
                                                                              per_image=prices[m]))
                 for m in wrong]
        run = run_batch([SAMPLES / n for n in SAMPLE_TRUTH], "pothole_severity", specs,
                        labels=SAMPLES / "labels.csv", db=tmp_path / "wb.db", progress=False)
    assert recommend(run.run_id, "accuracy>=0.75", db=tmp_path / "wb.db").pick == "b"
    rec = recommend(run.run_id, "accuracy>=1", db=tmp_path / "wb.db")
    assert rec.pick == "c"
    unpriced = rec.points.set_index("configuration").loc["d"]
    assert math.isnan(unpriced["cost_per_1k_usd"]) and not unpriced["on_frontier"]  # unknown is not $0
    assert recommend(run.run_id, "recall[severe]>=1", db=tmp_path / "wb.db").pick == "a"
    out = recommend(run.run_id, "accuracy>=0.75", db=tmp_path / "wb.db", human_cost=0.05).reason
    assert "No cascade: no configuration gives label probabilities" in out


# --- ratings: MAE and kappa, with bootstrap intervals and a paired bootstrap ----------------------------------

RATINGS = [0, 1, 2, 3, 4, 5, 5, 4, 3, 2, 1, 0, 2, 3, 4, 5]


def test_rating_bar_picks_by_mae_with_bootstrap_intervals_and_a_paired_bootstrap(tmp_path):
    # r1 ($0.10): off by 2 on images 0–7, exact after → MAE 16/16 = 1.0;  r2 ($1): off by 1 on 0–3 → MAE .25;
    # r3 ($10): exact → MAE 0.  mae ≤ .5 → r2.
    paths = make_images(tmp_path / "roads")[:len(RATINGS)]
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"file": [p.name for p in paths], "label": RATINGS, "tag": "pothole"}).to_csv(labels, index=False)
    off = {"r1": (8, 2), "r2": (4, 1), "r3": (0, 0)}
    with FaultServer() as server:
        for i, (path, truth) in enumerate(zip(paths, RATINGS)):
            server.images[path.name] = path
            for model, (count, by) in off.items():
                score = truth if i >= count else (truth + by if truth + by <= 5 else truth - by)
                server.answers[(model, path.name)] = json.dumps({"score": score, "explanation": "scripted"})
        specs = [ModelSpec(name=m, provider="custom", base_url=server.url, model=m, timeout=10, local=False,
                           price=PriceOverride(input_per_m=0, output_per_m=0, per_image=price))
                 for m, price in (("r1", 0.0001), ("r2", 0.001), ("r3", 0.01))]
        run = run_batch(paths, "tag_rating", specs, labels=labels, variables={"tag": "pothole"},
                        db=tmp_path / "wb.db", progress=False)
    rec = recommend(run.run_id, "mae<=0.5", db=tmp_path / "wb.db")
    points = rec.points.set_index("configuration")
    assert points["quality"].to_dict() == pytest.approx({"r1": 1.0, "r2": 0.25, "r3": 0.0})
    assert rec.pick == "r2" and rec.metric == "mae"
    assert points.loc["r2", "interval"] == "bootstrap (2000 resamples over images, seed 0)"
    assert points.loc["r2", "quality_low"] <= 0.25 <= points.loc["r2", "quality_high"]
    tests = {t.b: t for t in rec.comparisons}
    assert tests["r3"].method.startswith("paired bootstrap") and tests["r3"].difference == pytest.approx(0.25)
    assert tests["r1"].difference == pytest.approx(-0.75) and tests["r1"].separated
    assert recommend(run.run_id, "qwk>=0.9", db=tmp_path / "wb.db").metric == "qwk"


def test_macro_f1_agrees_with_evaluate():
    # test_evaluate's POTHOLES: 4 of 6 right, one failure; macro-F1 worked out there by hand as 3/4.  A class only
    # ever predicted (never true) counts with F1 0, as in workbench.evaluate.
    truth = np.array(["minor", "minor", "moderate", "severe", "severe", "no_pothole"], dtype=object)
    pred = np.array(["minor", "moderate", "moderate", "severe", "", "no_pothole"], dtype=object)
    assert statistic(truth, pred, "macro_f1") == pytest.approx(0.75)
    assert statistic(truth[:2], np.array(["minor", "severe"], dtype=object), "macro_f1") == pytest.approx(
        (2 / 3 + 0) / 2)
    assert math.isnan(statistic(truth[:2], pred[:2], "recall", "severe"))  # no severe image: recall undefined
