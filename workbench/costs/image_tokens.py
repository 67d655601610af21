"""How many tokens one image costs, per model family, from each provider's published rule.

Give the size the image has *after* the workbench's own preprocessing: each rule then applies the
provider's or processor's own resizing. A model id that no rule claims gets `None` ("unknown"),
never a guess. Rules live in `IMAGE_TOKEN_RULES`, tried in order, first match wins; add a family
by adding an entry there.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial
from typing import Callable

from workbench.errors import ConfigError, ImageError

DETAILS = ("auto", "low", "high")


@dataclass(frozen=True)
class ImageTokens:
    tokens: int
    family: str
    rule: str  # how the number came about, short enough for a table cell: "4 tiles × 170 + 85"


# (width, height, detail) -> (tokens, rule)
Estimator = Callable[[int, int, str], "tuple[int, str]"]


@dataclass(frozen=True)
class ImageTokenRule:
    family: str
    pattern: str  # regex searched in the lower-cased model id
    estimate: Estimator

    def matches(self, model_id: str) -> bool:
        return re.search(self.pattern, model_id.strip().lower()) is not None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _ceil(x: float) -> int:
    # Float noise (43.99999999 or 33.00000001) must not add a whole row of patches.
    return math.ceil(round(x, 6))


# --- OpenAI, tile models (GPT-4o, GPT-4.1, o1/o3, and gpt-4o-mini with other constants) -------------

def _openai_tile_grid(width: int, height: int) -> tuple[int, int]:
    """OpenAI 'high': fit in 2048², then shortest side down to 768 (never up), count 512-px tiles.

    OpenAI rounds the scaled sides to the nearest pixel: users see 2049x513 billed as 8 tiles and
    2050x513 as 4.
    """
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = _round_half_up(w * scale), _round_half_up(h * scale)
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = _round_half_up(w * scale), _round_half_up(h * scale)
    return _ceil(w / 512), _ceil(h / 512)


def openai_tiles(width: int, height: int, detail: str, *, base: int, per_tile: int) -> tuple[int, str]:
    # 'auto' lets OpenAI choose; we count it as 'high', the dearer of the two, so an estimate never
    # comes out lower than the bill.
    if detail == "low":
        return base, f"low detail: flat {base:,}"
    cols, rows = _openai_tile_grid(width, height)
    tiles = cols * rows
    return base + per_tile * tiles, f"{_count(tiles, 'tile')} × {per_tile:,} + {base:,}"


# --- OpenAI, patch models (gpt-4.1-mini, gpt-4.1-nano, o4-mini) ---------------------------------------

def openai_patch_count(width: int, height: int, patch: int = 32, cap: int = 1536) -> int:
    """OpenAI's documented algorithm: 32-px patches, image scaled down to fit at most 1536 of them."""
    patches = math.ceil(width / patch) * math.ceil(height / patch)
    if patches <= cap:
        return patches
    r = math.sqrt(patch * patch * cap / (width * height))
    cols_f, rows_f = width * r / patch, height * r / patch
    r *= min(math.floor(cols_f) / cols_f, math.floor(rows_f) / rows_f)
    return min(cap, _ceil(width * r / patch) * _ceil(height * r / patch))


def openai_patches(width: int, height: int, detail: str, *, multiplier: float) -> tuple[int, str]:
    # `detail` does not change the count for these models. OpenAI bills patches × multiplier; we
    # round the product up to a whole token.
    patches = openai_patch_count(width, height)
    return _ceil(patches * multiplier), f"{patches} patches × {multiplier}, rounded up"


# --- Pixtral -------------------------------------------------------------------------------------------

def pixtral(width: int, height: int, detail: str, *, longest_edge: int = 1024, patch: int = 16) -> tuple[int, str]:
    """Mistral's rule: fit in 1024² (down only), one [IMG] per 16-px patch, one [IMG_BREAK] per row
    (the last row's is [IMG_END])."""
    ratio = max(width / longest_edge, height / longest_edge)
    w, h = (math.floor(width / ratio), math.floor(height / ratio)) if ratio > 1 else (width, height)
    cols, rows = math.ceil(w / patch), math.ceil(h / patch)
    return rows * (cols + 1), f"{rows} rows × ({cols} + 1)"


# --- Llama 3.2 Vision ----------------------------------------------------------------------------------

def llama_vision_tile_count(width: int, height: int, tile: int = 560, max_tiles: int = 4) -> int:
    """The Mllama processor's canvas choice: among all rows×cols ≤ 4 canvases, the smallest
    upscale that fits, else the mildest downscale; ties go to the smaller canvas."""
    canvases = [(r, c) for r in range(1, max_tiles + 1) for c in range(1, max_tiles + 1) if r * c <= max_tiles]
    scales = {rc: min(rc[0] * tile / height, rc[1] * tile / width) for rc in canvases}
    ups = [s for s in scales.values() if s >= 1]
    chosen = min(ups) if ups else max(scales.values())
    return min(r * c for (r, c), s in scales.items() if s == chosen)


def llama_vision(width: int, height: int, detail: str, *, tile: int = 560, patch: int = 14) -> tuple[int, str]:
    # Llama 3.2 Vision reads images through cross-attention (one <|image|> token in the text), so
    # hosts differ in what they bill; we report the vision encoder's positions: (560/14)² + 1 per tile.
    tiles = llama_vision_tile_count(width, height, tile)
    per_tile = (tile // patch) ** 2 + 1
    return tiles * per_tile, f"{_count(tiles, 'tile')} × {per_tile:,}"


# --- Qwen2-VL / Qwen2.5-VL -----------------------------------------------------------------------------

def qwen_smart_resize(width: int, height: int, factor: int = 28, min_pixels: int = 56 * 56,
                      max_pixels: int = 28 * 28 * 1280) -> tuple[int, int]:
    """Qwen's `smart_resize`: both sides multiples of 28, pixel count within [min, max]."""
    h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def qwen_vl(width: int, height: int, detail: str, *, max_pixels: int = 28 * 28 * 1280) -> tuple[int, str]:
    # max_pixels is the 1280-token cap Qwen recommends and transformers' processor defaults to;
    # the checkpoints' own preprocessor_config allows up to 16384 tokens.
    w_bar, h_bar = qwen_smart_resize(width, height, max_pixels=max_pixels)
    cols, rows = w_bar // 28, h_bar // 28
    return rows * cols + 2, f"{rows} × {cols} + 2"


# --- Idefics3 / SmolVLM --------------------------------------------------------------------------------

def idefics3_crop_grid(width: int, height: int, longest_edge: int, crop: int) -> tuple[int, int]:
    """Rows and columns of crops the Idefics3 processor cuts; (0, 0) means the image goes whole."""
    if width >= height:
        w = longest_edge
        h = int(w / (width / height))
        h += h % 2
    else:
        h = longest_edge
        w = int(h * (width / height))
        w += w % 2
    w, h = math.ceil(max(w, 1) / crop) * crop, math.ceil(max(h, 1) / crop) * crop
    if w > crop or h > crop:
        return h // crop, w // crop
    return 0, 0


def idefics3(width: int, height: int, detail: str, *, seq_len: int, crop: int, longest_edge: int) -> tuple[int, str]:
    """Idefics3's image splitting: the processor scales the longest side to `longest_edge` (up or
    down), cuts crop-sized squares, and adds one global view. Each view is `seq_len` <image> tokens
    plus wrappers: <fake_token_around_image><row_i_col_j> per crop, a newline per row, and
    <fake_token_around_image><global-img> ... <fake_token_around_image> around the global view.
    Assumes the tokenizer merges "\\n\\n" into one token, as SmolLM2's does."""
    rows, cols = idefics3_crop_grid(width, height, longest_edge, crop)
    tokens = seq_len + 3 + rows * (cols * (seq_len + 2) + 1)
    if rows == 0:
        return tokens, f"1 view × {seq_len} + 3"
    return tokens, f"{rows}×{cols} crops + global, {seq_len} each + wrappers"


# --- LLaVA-1.5 ---------------------------------------------------------------------------------------

def llava_15(width: int, height: int, detail: str) -> tuple[int, str]:
    # CLIP ViT-L/14 at 336 px: 24 × 24 patches whatever the input size.
    return 576, "fixed 576 (24 × 24 patches at 336 px)"


_OPENAI = r"(?:^|/)"  # bare OpenAI ids and provider-prefixed ones ("openai/gpt-4o")

IMAGE_TOKEN_RULES: list[ImageTokenRule] = [
    # Order matters: the more specific id comes first (gpt-4o-mini before gpt-4o).
    ImageTokenRule("openai-gpt-4o-mini", _OPENAI + r"gpt-4o-mini",
                   partial(openai_tiles, base=2833, per_tile=5667)),
    ImageTokenRule("openai-patches", _OPENAI + r"gpt-4\.1-mini", partial(openai_patches, multiplier=1.62)),
    ImageTokenRule("openai-patches", _OPENAI + r"gpt-4\.1-nano", partial(openai_patches, multiplier=2.46)),
    ImageTokenRule("openai-patches", _OPENAI + r"o4-mini", partial(openai_patches, multiplier=1.72)),
    ImageTokenRule("openai-tiles", _OPENAI + r"(?:chatgpt-4o|gpt-4o|gpt-4\.1|gpt-4\.5|gpt-4-turbo|gpt-4-vision)",
                   partial(openai_tiles, base=85, per_tile=170)),
    ImageTokenRule("openai-tiles", _OPENAI + r"(?:o1|o1-pro|o3|o3-pro)(?:-\d{4}-\d{2}-\d{2})?$",
                   partial(openai_tiles, base=75, per_tile=150)),
    ImageTokenRule("pixtral", r"pixtral", pixtral),
    ImageTokenRule("llama-3.2-vision", r"llama-?3\.2.*vision", llama_vision),
    ImageTokenRule("qwen2-vl", r"qwen2(?:\.5)?-?vl", qwen_vl),
    ImageTokenRule("idefics3", r"smolvlm2?-(?:256m|500m)", partial(idefics3, seq_len=64, crop=512, longest_edge=2048)),
    ImageTokenRule("idefics3", r"smolvlm", partial(idefics3, seq_len=81, crop=384, longest_edge=1536)),
    ImageTokenRule("idefics3", r"idefics3", partial(idefics3, seq_len=169, crop=364, longest_edge=1456)),
    ImageTokenRule("llava-1.5", r"llava[-_]?(?:v?1\.5)|(?:^|/)llava(?::|$)", llava_15),
]


def image_token_rule(model_id: str) -> ImageTokenRule | None:
    return next((rule for rule in IMAGE_TOKEN_RULES if rule.matches(model_id)), None)


def estimate_image_tokens(model_id: str, width: int, height: int, detail: str = "auto") -> ImageTokens | None:
    """Tokens one image of `width`×`height` px costs on `model_id`; None when no rule knows the model."""
    if detail not in DETAILS:
        raise ConfigError(f"detail={detail!r} is not one of {', '.join(DETAILS)}")
    if width <= 0 or height <= 0:
        raise ImageError(f"image size {width}x{height} px has a side of zero or less")
    rule = image_token_rule(model_id)
    if rule is None:
        return None
    tokens, how = rule.estimate(width, height, detail)
    return ImageTokens(tokens=tokens, family=rule.family, rule=how)
