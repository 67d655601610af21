"""List prices from a maintained price database (genai-prices), read lazily at first use.

genai-prices (Pydantic's, MIT) ships a snapshot of ~50 providers' prices with each provider's pricing
page, tiers and start dates; the workbench reads its per-token list prices and keeps its own image-token
rules (a price database knows dollars per token, not how many tokens an image is). We read the bundled
snapshot only: no network at run time, and a pinned version gives the same figures on every machine.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

# The workbench's provider names (providers.py) -> genai-prices' provider ids. Providers not listed
# (self-hosted servers, custom URLs) are looked up by model id alone.
PRICE_DB_PROVIDERS: dict[str, str] = {
    "openai": "openai",
    "openrouter": "openrouter",
    "anthropic": "anthropic",
    "gemini": "google",
}


def price_db_version() -> str | None:
    """The installed genai-prices version ("0.2.3"); None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("genai-prices")
    except PackageNotFoundError:
        return None


def _provider_id(model_id: str, provider: str | None) -> str | None:
    if provider in PRICE_DB_PROVIDERS:
        return PRICE_DB_PROVIDERS[provider]
    # "vendor/model" ids are OpenRouter's naming; bare ids let the database pick by model name.
    return "openrouter" if "/" in model_id else None


def _per_million(value) -> float | None:
    if value is None:
        return None
    # Tiered prices (Claude and Gemini above 200k input tokens) start at `base`, which covers any image call.
    return float(getattr(value, "base", value))


@lru_cache(maxsize=512)
def maintained_price(model_id: str, provider: str | None = None):
    """The database's list price for `model_id` as Price fields (input and output $ per 1M tokens, source, as_of),
    or None when it does not know the model. Plain values: `prices` builds the Price (it imports this module)."""
    try:
        from genai_prices.data_snapshot import get_snapshot
    except ImportError:  # optional at run time: the fallback table still answers
        return None
    mid = model_id.strip().lower()
    try:
        db_provider, model = get_snapshot().find_provider_model(mid, None, _provider_id(mid, provider), None)
    except LookupError:
        return None
    prices = model.get_prices(datetime.now(timezone.utc))
    page = (db_provider.pricing_urls or [""])[0].split("://")[-1]
    return (_per_million(prices.input_mtok), _per_million(prices.output_mtok),
            f"genai-prices ({page})" if page else "genai-prices", f"v{price_db_version()}")
