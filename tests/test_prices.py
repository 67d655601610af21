"""List prices from the maintained database (genai-prices), the dated fallback table, and overrides on top."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workbench.costs import PRICES, estimate_call, lookup_price
from workbench.costs.price_db import maintained_price

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("genai_prices")


@pytest.mark.parametrize("model_id, provider, host", [
    ("gpt-5-mini", "openai", "openai.com"),
    ("claude-haiku-4-5", "anthropic", "anthropic.com"),
    ("gemini-2.5-flash", "gemini", "ai.google.dev"),
    ("mistralai/pixtral-12b", "openrouter", "openrouter.ai"),
    ("gpt-4o", None, "openai.com"),
])
def test_list_prices_come_from_the_price_database(model_id, provider, host):
    price = lookup_price(model_id, provider=provider)
    assert price.input_per_m > 0 and price.output_per_m > 0
    assert price.source.startswith("genai-prices") and host in price.source and price.as_of.startswith("v")


def test_tiered_prices_use_the_base_tier():
    # Claude Sonnet 4.5 costs more above 200k input tokens; a call with one image is far below that.
    price = lookup_price("claude-sonnet-4-5", provider="anthropic")
    assert (price.input_per_m, price.output_per_m) == (3.0, 15.0)


def test_the_fallback_table_answers_what_the_database_lacks(monkeypatch):
    monkeypatch.setitem(PRICES, "acme/vision-1", PRICES["gpt-4o"])
    assert maintained_price("acme/vision-1") is None
    assert "fallback" in lookup_price("acme/vision-1").source


def test_fallback_table_is_dated_and_says_so():
    assert all("fallback" in p.source and p.as_of for p in PRICES.values())


def test_models_file_override_wins_over_the_database():
    price = lookup_price("claude-haiku-4-5", {"output_per_m": 9.0}, provider="anthropic")
    assert (price.input_per_m, price.output_per_m) == (1.0, 9.0)
    assert price.source.endswith("+ models file")


def test_unknown_model_is_still_unknown():
    assert lookup_price("Qwen/Qwen2.5-VL-7B-Instruct") is None
    assert estimate_call("Qwen/Qwen2.5-VL-7B-Instruct", 512, 512).cost is None


def test_done_when_claude_gemini_gpt5_estimates():
    claude = estimate_call("claude-haiku-4-5", 1000, 1000, provider="anthropic")
    assert claude.image_tokens == 1334 and claude.cost is not None
    gemini = estimate_call("gemini-2.5-flash", 384, 384, provider="gemini")
    assert gemini.image_tokens == 258 and gemini.cost == pytest.approx((258 + 100) * 0.3e-6 + 100 * 2.5e-6)
    gpt5 = estimate_call("gpt-5", 1024, 1024, detail="high", provider="openai")
    assert gpt5.image_tokens == 630 and gpt5.cost is not None


def test_price_database_loads_lazily():
    code = "import sys, workbench, workbench.costs; print('genai_prices' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_cost_table_has_claude_gemini_and_gpt_5_rows():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cost_table.py")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "genai-prices" in out.stdout
    for name in ("Claude", "Gemini", "GPT-5"):
        line = next(line for line in out.stdout.splitlines() if name in line)
        assert "$" in line, line


def test_actual_cost_uses_the_entrys_provider_and_reported_cost_still_wins():
    from workbench.backends.base import Reply
    from workbench.lifecycle import cost_of
    from workbench.models import ModelSpec

    claude = ModelSpec(name="c", provider="anthropic", model="claude-haiku-4-5")
    cost, source = cost_of(claude, Reply(text="ok", input_tokens=1000, output_tokens=100), images=1)
    assert cost == pytest.approx(1000 * 1e-6 + 100 * 5e-6) and source == "estimated"
    routed = ModelSpec(name="p", provider="openrouter", model="mistralai/pixtral-12b")
    reply = Reply(text="ok", input_tokens=1000, output_tokens=100, reported_cost=0.123)
    assert cost_of(routed, reply, images=1) == (0.123, "reported")
