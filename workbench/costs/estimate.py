"""What a call will cost before it is made: image tokens + prompt + output at the model's price."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Mapping

from workbench.costs.image_tokens import estimate_image_tokens
from workbench.costs.prices import batch_discount, call_cost, lookup_price

if TYPE_CHECKING:
    import pandas

# Rough length of a task prompt plus chat-template wrapping; callers with a real count pass it.
DEFAULT_PROMPT_TOKENS = 100
DEFAULT_OUTPUT_TOKENS = 100


@dataclass(frozen=True)
class CallEstimate:
    image_tokens: int | None
    input_tokens: int | None  # image + prompt
    output_tokens: int
    cost: float | None  # $ per call
    cost_per_1k: float | None  # $ per 1,000 calls (one image each)
    family: str | None
    rule: str | None
    price_source: str | None  # "genai-prices (www.anthropic.com/pricing#api), v0.2.3"


def estimate_call(model_id: str, width: int, height: int, *, detail: str = "auto",
                  prompt_tokens: int = DEFAULT_PROMPT_TOKENS, output_tokens: int = DEFAULT_OUTPUT_TOKENS,
                  price_override=None, local: bool = False, provider: str | None = None,
                  seconds: float | None = None) -> CallEstimate:
    """Estimate one call with one image. `provider` (the models file's name for it) picks the price list;
    `seconds` is only needed for a local model priced per GPU-hour."""
    image = estimate_image_tokens(model_id, width, height, detail, provider=provider)
    price = lookup_price(model_id, price_override, local=local, provider=provider)
    input_tokens = None if image is None else image.tokens + prompt_tokens
    cost = call_cost(price, input_tokens, output_tokens, images=1, seconds=seconds)
    return CallEstimate(
        image_tokens=None if image is None else image.tokens,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=cost,
        cost_per_1k=None if cost is None else cost * 1000,
        family=None if image is None else image.family,
        rule=None if image is None else image.rule,
        price_source=None if price is None else ", ".join(p for p in (price.source, price.as_of) if p),
    )


def format_usd(x: float | None) -> str:
    """Money for people: "—" when unknown, "$3.61", "$0.00014" (two significant digits below a cent)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if x == 0:
        return "$0"
    if abs(x) >= 0.01:
        return f"${x:,.2f}"
    decimals = 1 - math.floor(math.log10(abs(x)))
    return f"${x:.{decimals}f}"


def cost_table(model_ids: list[str], width: int, height: int, detail: str = "auto", *,
               prompt_tokens: int = DEFAULT_PROMPT_TOKENS, output_tokens: int = DEFAULT_OUTPUT_TOKENS,
               local: Collection[str] = (), price_overrides: Mapping | None = None,
               providers: Mapping[str, str] | None = None) -> "pandas.DataFrame":
    """One row per model: image and input tokens, $ per call, per 1,000 calls, and per 1,000 via batch.

    Missing numbers are <NA>/NaN in the frame; format with `format_usd` to show them as "—".
    """
    import pandas as pd

    rows = []
    for model_id in model_ids:
        est = estimate_call(model_id, width, height, detail=detail, prompt_tokens=prompt_tokens,
                            output_tokens=output_tokens, local=model_id in local,
                            price_override=(price_overrides or {}).get(model_id),
                            provider=(providers or {}).get(model_id))
        factor = None if model_id in local else batch_discount(model_id)
        rows.append({
            "model": model_id,
            "family": est.family,
            "image_tokens": est.image_tokens,
            "input_tokens": est.input_tokens,
            "cost_per_call": est.cost,
            "cost_per_1k": est.cost_per_1k,
            "batch_cost_per_1k": None if factor is None or est.cost_per_1k is None else est.cost_per_1k * factor,
            "price_source": est.price_source,
        })
    frame = pd.DataFrame(rows, columns=["model", "family", "image_tokens", "input_tokens", "cost_per_call",
                                        "cost_per_1k", "batch_cost_per_1k", "price_source"])
    return frame.astype({"image_tokens": "Int64", "input_tokens": "Int64", "cost_per_call": "float64",
                         "cost_per_1k": "float64", "batch_cost_per_1k": "float64"})
