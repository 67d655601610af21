"""Image tokens, prices and the cost of a call, per model, from each provider's published rules."""
from workbench.costs.estimate import CallEstimate, cost_table, estimate_call, format_usd
from workbench.costs.image_tokens import IMAGE_TOKEN_RULES, ImageTokenRule, ImageTokens, estimate_image_tokens
from workbench.costs.prices import PRICES, Price, batch_discount, call_cost, lookup_price

__all__ = [
    "CallEstimate",
    "IMAGE_TOKEN_RULES",
    "ImageTokenRule",
    "ImageTokens",
    "PRICES",
    "Price",
    "batch_discount",
    "call_cost",
    "cost_table",
    "estimate_call",
    "estimate_image_tokens",
    "format_usd",
    "lookup_price",
]
