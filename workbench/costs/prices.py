"""What a model costs: list prices per model, the models file's overrides, and the cost of one call.

List prices come from a maintained price database (genai-prices, see price_db.py); `PRICES` below is
only the fallback for models it does not know (or when it is not installed). The models file's
`price` overrides either field by field, and a provider-reported cost (OpenRouter's `usage.cost`)
wins over all of them when the call is made (lifecycle.cost_of).

Unknown is not zero: a model known to neither has price `None`, and a cost that needs a number we do
not have is `None` too. Local models cost $0 per token unless the models file gives a `gpu_hour_usd`,
which turns a call's seconds into money.

Each price carries its `source` and `as_of` (the database version, or the day a fallback figure was
typed in). Prices change: check the page before quoting a number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace

from workbench.errors import ConfigError


@dataclass(frozen=True)
class Price:
    input_per_m: float | None  # $ per 1M input tokens (image tokens included)
    output_per_m: float | None  # $ per 1M output tokens
    per_image: float | None = None  # $ per image, where a provider charges one on top of tokens
    gpu_hour_usd: float | None = None  # local models: $ per hour of the machine the model runs on
    source: str = ""
    as_of: str = ""


_OPENAI = "openai.com/api/pricing (fallback table)"
_OPENROUTER = "openrouter.ai model page (fallback table)"
_RECORDED = "2026-11-23"

# The fallback: used only where the price database has no entry. Keep it small and dated.
PRICES: dict[str, Price] = {
    # OpenAI direct
    "gpt-4o": Price(2.50, 10.00, source=_OPENAI, as_of=_RECORDED),
    "gpt-4o-mini": Price(0.15, 0.60, source=_OPENAI, as_of=_RECORDED),
    "gpt-4.1": Price(2.00, 8.00, source=_OPENAI, as_of=_RECORDED),
    "gpt-4.1-mini": Price(0.40, 1.60, source=_OPENAI, as_of=_RECORDED),
    "gpt-4.1-nano": Price(0.10, 0.40, source=_OPENAI, as_of=_RECORDED),
    "o4-mini": Price(1.10, 4.40, source=_OPENAI, as_of=_RECORDED),
    # OpenRouter (its images are billed as the upstream model's image tokens, no separate fee)
    "openai/gpt-4o": Price(2.50, 10.00, source=_OPENROUTER, as_of=_RECORDED),
    "openai/gpt-4o-mini": Price(0.15, 0.60, source=_OPENROUTER, as_of=_RECORDED),
    "openai/gpt-4.1-mini": Price(0.40, 1.60, source=_OPENROUTER, as_of=_RECORDED),
    "openai/gpt-4.1-nano": Price(0.10, 0.40, source=_OPENROUTER, as_of=_RECORDED),
    "mistralai/pixtral-12b": Price(0.10, 0.10, source=_OPENROUTER, as_of=_RECORDED),
    "meta-llama/llama-3.2-11b-vision-instruct": Price(0.049, 0.049, source=_OPENROUTER, as_of=_RECORDED),
}

LOCAL_PRICE = Price(0.0, 0.0, source="local (no per-token fee)")

# (pattern on the model id, factor on the list price). OpenAI's Batch API halves the price; OpenRouter
# has no batch API, so "openai/..." ids get no entry.
BATCH_DISCOUNTS: list[tuple[str, float]] = [
    (r"^(?:chatgpt-|gpt-|o1|o3|o4)", 0.5),
]

_FIELDS = {f.name for f in fields(Price)}


def _override_fields(override) -> dict:
    if isinstance(override, Price):
        # A Price cannot say "leave this alone" except by None.
        return {k: v for k, v in vars(override).items() if v not in (None, "")}
    if hasattr(override, "model_dump"):  # the models file's pydantic entry: only the fields it set
        override = override.model_dump(exclude_unset=True)
    unknown = set(override) - _FIELDS
    if unknown:
        raise ConfigError(f"price override has unknown field(s) {sorted(unknown)}; use {sorted(_FIELDS)}")
    return dict(override)


def list_price(model_id: str, provider: str | None = None) -> Price | None:
    """The price database's figure, else the fallback table's, else None."""
    from workbench.costs.price_db import maintained_price

    found = maintained_price(model_id, provider)
    if found is not None:
        input_per_m, output_per_m, source, as_of = found
        return Price(input_per_m, output_per_m, source=source, as_of=as_of)
    return PRICES.get(model_id.strip().lower())


def lookup_price(model_id: str, override=None, local: bool = False, provider: str | None = None) -> Price | None:
    """The model's price, with the models file's `override` winning field by field.

    `override` is a dict of `Price` fields, a `Price` (its None fields are left alone) or the models
    file's pydantic price entry (only the fields the file set). `provider` is the models file's
    provider name ("anthropic", "openrouter"...), which picks the right price list for a model id.

    `local=True` starts from $0 per token. None when neither a price list nor the override gives a price.
    """
    base = LOCAL_PRICE if local else list_price(model_id, provider)
    if override is None:
        return base
    changes = _override_fields(override)
    if base is None:
        base = Price(None, None, source="models file")
    elif changes:
        changes.setdefault("source", f"{base.source} + models file")
    return replace(base, **changes)


def batch_discount(model_id: str) -> float | None:
    """Factor the provider's batch API applies to the list price (0.5 = half); None where unknown."""
    mid = model_id.strip().lower()
    return next((factor for pattern, factor in BATCH_DISCOUNTS if re.search(pattern, mid)), None)


def _per_token_cost(rate_per_m: float | None, tokens: int | None) -> float | None:
    if rate_per_m is None:
        return None
    if rate_per_m == 0:
        return 0.0
    return None if tokens is None else rate_per_m * tokens / 1_000_000


def call_cost(price: Price | None, input_tokens: int | None, output_tokens: int | None,
              images: int = 1, seconds: float | None = None) -> float | None:
    """$ for one call; None when the price or a count the price needs is unknown."""
    if price is None:
        return None
    parts = [_per_token_cost(price.input_per_m, input_tokens), _per_token_cost(price.output_per_m, output_tokens)]
    if price.per_image is not None:
        parts.append(price.per_image * images)
    if price.gpu_hour_usd is not None:
        parts.append(None if seconds is None else price.gpu_hour_usd * seconds / 3600)
    return None if any(p is None for p in parts) else sum(parts)
