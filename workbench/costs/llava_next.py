"""LLaVA 1.6 (LLaVA-NeXT) "any resolution" image tokens, as transformers' LlavaNextProcessor counts them.

The image goes to the grid of 336-px tiles that keeps the most of it (llava-v1.6's five grid pinpoints),
and its features are cropped back to the image's own aspect ratio ("unpadded"), one newline token per
row, after a fixed 576-token overview.
"""
from __future__ import annotations

# (height, width) canvases of llava-v1.6-mistral-7b and llava-v1.6-vicuna-7b/13b (config.json).
LLAVA_16_PINPOINTS = ((336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008))
TILE = 336
PATCHES = 24  # 336 / 14


def best_canvas(width: int, height: int, pinpoints=LLAVA_16_PINPOINTS) -> tuple[int, int]:
    """The canvas (height, width) that keeps the most of the image's pixels, then wastes the least."""
    def score(canvas):
        ch, cw = canvas
        scale = min(cw / width, ch / height)
        kept = min(int(width * scale) * int(height * scale), width * height)
        return kept, -(cw * ch - kept)
    return max(pinpoints, key=score)  # max() keeps the first of equals, as the processor does


def unpadded_grid(width: int, height: int, rows: int, cols: int) -> tuple[int, int]:
    """Feature rows and columns left once the padding around the image is cropped away."""
    cur_h, cur_w = PATCHES * rows, PATCHES * cols
    if width / height > cur_w / cur_h:
        new_h = int(round(height * (cur_w / width), 7))
        cur_h -= 2 * ((cur_h - new_h) // 2)
    else:
        new_w = int(round(width * (cur_h / height), 7))
        cur_w -= 2 * ((cur_w - new_w) // 2)
    return cur_h, cur_w


def llava_next(width: int, height: int, detail: str) -> tuple[int, str]:
    ch, cw = best_canvas(width, height)
    feat_h, feat_w = unpadded_grid(width, height, ch // TILE, cw // TILE)
    tokens = PATCHES * PATCHES + feat_h * (feat_w + 1)
    return tokens, f"576 overview + {ch // TILE}×{cw // TILE} tiles unpadded to {feat_h} × ({feat_w} + 1)"


def llava_next_llama_cpp(width: int, height: int, detail: str) -> tuple[int, str]:
    """llama.cpp's multimodal library (which Ollama runs LLaVA 1.6 on) picks the same canvas but keeps
    every 336-px tile whole: 576 tokens per tile plus 576 for the overview, no unpadding, no newlines
    (tools/mtmd: the tokens of all slices are summed)."""
    ch, cw = best_canvas(width, height)
    tiles = (ch // TILE) * (cw // TILE)
    return (tiles + 1) * PATCHES * PATCHES, f"({tiles} tiles + overview) × 576"
