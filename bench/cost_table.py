"""Print what the default models (workbench/default_models.toml) cost per 1,000 images.

    python bench/cost_table.py

Each model sees the image after its own `max_edge`; local and self-hosted models cost $0 per token
unless the models file gives a price. "—" means unknown (no price or no token rule), never zero.
List prices come from the genai-prices database (workbench/costs/price_db.py), else the small dated
fallback table in workbench/costs/prices.py; the header says which version was read.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import datetime  # noqa: E402

import pandas as pd  # noqa: E402

from workbench.cost_preview import sent_size  # noqa: E402
from workbench.costs.price_db import price_db_version  # noqa: E402
from workbench.costs import cost_table, format_usd  # noqa: E402
from workbench.models import load_models  # noqa: E402

PROMPT_TOKENS = 100
OUTPUT_TOKENS = 100
SETTINGS = [  # (column label, width, height, detail)
    ("512² auto", 512, 512, "auto"),
    ("512² low", 512, 512, "low"),
    ("1024² high", 1024, 1024, "high"),
]


def seed_costs() -> pd.DataFrame:
    rows = []
    for spec in load_models():
        local = spec.is_local
        row = {"model": spec.name}
        for label, width, height, detail in SETTINGS:
            w, h = sent_size(width, height, spec.max_edge)
            frame = cost_table([spec.model], w, h, detail, prompt_tokens=PROMPT_TOKENS, output_tokens=OUTPUT_TOKENS,
                               local={spec.model} if local else (), price_overrides={spec.model: spec.price}
                               if spec.price else None, providers={spec.model: spec.provider})
            first = frame.iloc[0]
            if label == SETTINGS[0][0]:
                row["family"] = first["family"] or "unknown"
                row["img tok"] = "—" if pd.isna(first["image_tokens"]) else f"{first['image_tokens']:,}"
                row["batch"] = format_usd(None if pd.isna(first["batch_cost_per_1k"]) else first["batch_cost_per_1k"])
                row["price"] = first["price_source"] or "—"
            row[label] = format_usd(None if pd.isna(first["cost_per_1k"]) else first["cost_per_1k"])
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "family", "img tok"] + [s[0] for s in SETTINGS] + ["batch", "price"])


def openrouter_listing_check() -> str:
    """OpenRouter lists '$/K input imgs' as one 8-tile high-detail image at the token price."""
    frame = cost_table(["openai/gpt-4o", "openai/gpt-4o-mini"], 1024, 2560, "high", prompt_tokens=0, output_tokens=0)
    return ", ".join(f"{m} ${c:.4f}" for m, c in zip(frame["model"], frame["cost_per_1k"]))


def price_source_line() -> str:
    version = price_db_version()
    db = f"genai-prices {version} (its bundled snapshot)" if version else "genai-prices not installed"
    return f"Prices: {db}, else the fallback table in workbench/costs/prices.py; read {datetime.date.today()}."


if __name__ == "__main__":
    print(f"$ per 1,000 images, one call each: {PROMPT_TOKENS} prompt tokens + image, {OUTPUT_TOKENS} output tokens.")
    print(price_source_line())
    print("'auto' is counted as OpenAI 'high'; 'batch' = 512² auto through the provider's batch API.")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        print(seed_costs().to_string(index=False))
    print(f"Image only, 1024x2560 high (8 tiles; OpenRouter's '$/K input imgs'): {openrouter_listing_check()}")
