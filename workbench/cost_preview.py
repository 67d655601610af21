"""Before a run: what each selected model will cost for this image at these settings, and per 1,000 images."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .costs import batch_discount, estimate_call
from .images import DEFAULT_MAX_EDGE, load_image
from .models import ModelSpec, resolve_models

if TYPE_CHECKING:
    import pandas as pd

CHARS_PER_TOKEN = 4  # a rough English average; the estimate says "≈" for this reason


def sent_size(width: int, height: int, max_edge: int | None) -> tuple[int, int]:
    """The size the workbench sends: the long edge capped at max_edge, never upscaled."""
    scale = min(1.0, (max_edge or max(width, height)) / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def preview_costs(image, models=None, *, prompt: str = "", max_edge: int | None = None, detail: str | None = None,
                  output_tokens: int = 100) -> "pd.DataFrame":
    """One row per model: estimated image tokens, input tokens, $ per call, per 1,000 images, and via batch API."""
    import pandas as pd

    image = load_image(image)
    return pd.DataFrame(costs_for_size(image.width, image.height, resolve_models(models), prompt=prompt,
                                       max_edge=max_edge, detail=detail, output_tokens=output_tokens))


def costs_for_size(width: int, height: int, specs: list[ModelSpec], *, prompt: str = "", max_edge: int | None = None,
                   detail: str | None = None, output_tokens: int = 100) -> list[dict]:
    """`preview_costs`' rows for an image of this size, without an image (the MCP cost tool takes a size)."""
    prompt_tokens = max(1, len(prompt) // CHARS_PER_TOKEN) + 10  # + chat-template wrapping
    return [_row(spec, width, height, prompt_tokens, output_tokens, max_edge, detail) for spec in specs]


def _row(spec: ModelSpec, width, height, prompt_tokens, output_tokens, max_edge, detail) -> dict:
    w, h = sent_size(width, height, max_edge or spec.max_edge or DEFAULT_MAX_EDGE)
    override = spec.price.model_dump(exclude_none=True) if spec.price else None
    est = estimate_call(spec.model, w, h, detail=detail or spec.detail, prompt_tokens=prompt_tokens,
                        output_tokens=output_tokens, price_override=override, local=spec.is_local,
                        provider=spec.provider)
    factor = None if spec.is_local else batch_discount(spec.model)
    return {"model": spec.name, "sent_size": f"{w}×{h}", "image_tokens": est.image_tokens,
            "input_tokens": est.input_tokens, "cost_per_call": est.cost, "cost_per_1k": est.cost_per_1k,
            "batch_cost_per_1k": None if factor is None or est.cost_per_1k is None else est.cost_per_1k * factor,
            "rule": est.rule, "price_source": est.price_source}
