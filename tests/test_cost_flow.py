"""Cost from end to end: the provider's reported figure wins, prices turn usage into money, unknown stays unknown."""
import pytest

import workbench
from workbench import ModelSpec, format_usd, result_card

from .fault_server import COST, FaultServer, fault_server  # noqa: F401


def _spec(server, model, **kw):
    return ModelSpec(name=f"m-{model}", provider="custom", base_url=server.url, model=model, max_retries=0, **kw)


def test_reported_cost_wins(fault_server, sample_image):  # noqa: F811
    result = workbench.run_model(sample_image, "ask", _spec(fault_server, "cost"))
    assert result.cost == pytest.approx(COST) and result.cost_source == "reported"
    assert "(reported)" in result_card(result)


def test_price_from_models_file_turns_usage_into_money(fault_server, sample_image):  # noqa: F811
    price = {"input_per_m": 2.0, "output_per_m": 10.0}
    result = workbench.run_model(sample_image, "ask", _spec(fault_server, "ok", price=price))
    expected = result.input_tokens * 2.0 / 1e6 + result.output_tokens * 10.0 / 1e6
    assert result.cost == pytest.approx(expected) and result.cost_source == "estimated"


def test_unknown_price_is_unknown_not_free(fault_server, sample_image):  # noqa: F811
    result = workbench.run_model(sample_image, "ask", _spec(fault_server, "ok"))
    assert result.status == "ok" and result.cost is None and result.cost_source is None
    card = result_card(result)
    assert "cost —" in card and "$0.00" not in card
    assert format_usd(None) == "—"


def test_preview_follows_image_size_max_edge_and_detail(sample_image):
    gpt4o = ModelSpec(name="GPT-4o", provider="openai", model="gpt-4o")
    unknown = ModelSpec(name="mystery", provider="custom", base_url="http://127.0.0.1:9/v1", model="mystery-vlm")
    big = sample_image.resize((2048, 2048))
    high = workbench.preview_costs(big, [gpt4o, unknown], max_edge=2048, detail="high")
    low = workbench.preview_costs(big, [gpt4o], max_edge=2048, detail="low")
    small = workbench.preview_costs(big, [gpt4o], max_edge=512, detail="high")
    assert high.loc[0, "image_tokens"] == 765  # 2048² → 768² → 4 tiles × 170 + 85
    assert low.loc[0, "image_tokens"] == 85
    assert small.loc[0, "image_tokens"] == 255  # 512² → 1 tile
    assert low.loc[0, "cost_per_1k"] < high.loc[0, "cost_per_1k"]
    assert high.loc[0, "batch_cost_per_1k"] == pytest.approx(high.loc[0, "cost_per_1k"] * 0.5)
    assert high.loc[1, "image_tokens"] is None or high.isna().loc[1, "image_tokens"]
    assert high.isna().loc[1, "cost_per_1k"]


def test_app_cost_table_shows_dash_for_unknown(sample_image, tmp_path):
    import app

    path = tmp_path / "img.png"
    sample_image.save(path)
    catalog = [ModelSpec(name="GPT-4o", provider="openai", model="gpt-4o"),
               ModelSpec(name="mystery", provider="custom", base_url="http://127.0.0.1:9/v1", model="mystery-vlm")]
    table = app.cost_preview(str(path), ["GPT-4o", "mystery"], "prompt", 1536, "auto", [], catalog)
    mystery = table[table["model"] == "mystery"].iloc[0]
    assert mystery["per 1,000 images"] == "—" and mystery["image tokens"] == "unknown"  # the app's short headers
    assert table[table["model"] == "GPT-4o"].iloc[0]["per 1,000 images"].startswith("$")
