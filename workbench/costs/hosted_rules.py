"""Image-token rules of the closed hosted models whose providers publish one: Claude and Gemini."""
from __future__ import annotations

import math

from workbench.costs.token_math import count_label

# --- Anthropic Claude ------------------------------------------------------------------------------
# Anthropic's "Vision" docs (checked 2026-12-02): tokens ≈ width × height / 750. An image whose long
# edge is over 1568 px, or that would cost more than about 1,600 tokens, is first scaled down with its
# aspect ratio kept (1092×1092 is the largest square sent as is). Their example: 1000×1000 ≈ 1,334.
CLAUDE_MAX_EDGE = 1568
CLAUDE_MAX_TOKENS = 1600
CLAUDE_PIXELS_PER_TOKEN = 750


def claude_resize(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, CLAUDE_MAX_EDGE / max(width, height),
                math.sqrt(CLAUDE_MAX_TOKENS * CLAUDE_PIXELS_PER_TOKEN / (width * height)))
    if scale >= 1.0:
        return width, height
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def claude(width: int, height: int, detail: str) -> tuple[int, str]:
    # `detail` is an OpenAI setting; Claude's endpoint ignores it.
    w, h = claude_resize(width, height)
    tokens = math.ceil(w * h / CLAUDE_PIXELS_PER_TOKEN)
    return tokens, f"{w}×{h} px / {CLAUDE_PIXELS_PER_TOKEN}, rounded up"


# --- Google Gemini -----------------------------------------------------------------------------------
# Gemini API "Understand and count tokens" / "Image understanding" (checked 2026-12-02), Gemini 2.x:
# an image with both sides ≤ 384 px is 258 tokens; a larger one is cropped and scaled into 768×768
# tiles of 258 tokens each.
GEMINI_TILE = 768
GEMINI_SMALL = 384
GEMINI_TOKENS_PER_TILE = 258

# Gemini 3's media_resolution sets a fixed budget per image (Gemini 3 developer guide, checked
# 2026-12-02): low 280, medium 560, high 1120; images default to high. The OpenAI-compatible endpoint
# documents no mapping from image_url's `detail` to media_resolution, so every `detail` counts as the
# default: an estimate never comes out below the bill.
GEMINI_3_MEDIA_RESOLUTION = {"low": 280, "medium": 560, "high": 1120}


def gemini_tiles(width: int, height: int, detail: str) -> tuple[int, str]:
    if width <= GEMINI_SMALL and height <= GEMINI_SMALL:
        return GEMINI_TOKENS_PER_TILE, f"small image: flat {GEMINI_TOKENS_PER_TILE}"
    tiles = math.ceil(width / GEMINI_TILE) * math.ceil(height / GEMINI_TILE)
    return tiles * GEMINI_TOKENS_PER_TILE, f"{count_label(tiles, 'tile')} × {GEMINI_TOKENS_PER_TILE}"


def gemini_3(width: int, height: int, detail: str, *, media_resolution: str = "high") -> tuple[int, str]:
    tokens = GEMINI_3_MEDIA_RESOLUTION[media_resolution]
    return tokens, f"media_resolution {media_resolution}: flat {tokens:,}"
