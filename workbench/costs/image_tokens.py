"""How many tokens one image costs, per model family, from each provider's published rule.

Give the size the image has *after* the workbench's own preprocessing: each rule then applies the
provider's or processor's own resizing. A model id that no rule claims gets `None` ("unknown"),
never a guess. Rules live in `IMAGE_TOKEN_RULES`, tried in order, first match wins; add a family
by adding an entry there.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Mapping

from workbench.costs.hosted_rules import claude, gemini_3, gemini_tiles
from workbench.costs.llava_next import llava_next, llava_next_llama_cpp
from workbench.costs.token_math import ceil_clean as _ceil
from workbench.costs.token_math import count_label as _count
from workbench.costs.token_math import fit_within
from workbench.costs.token_math import round_half_up as _round_half_up
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
    # Servers that resize differently from the default, by the models file's provider name.
    by_provider: Mapping[str, Estimator] = field(default_factory=dict)

    def for_provider(self, provider: str | None) -> Estimator:
        return self.by_provider.get(provider or "", self.estimate)

    def matches(self, model_id: str) -> bool:
        return re.search(self.pattern, model_id.strip().lower()) is not None


# --- OpenAI, tile models (GPT-4o, GPT-4.1, o1/o3, and gpt-4o-mini with other constants) -------------

def _openai_tile_grid(width: int, height: int) -> tuple[int, int]:
    """OpenAI 'high': fit in 2048², then shortest side down to 768 (never up), count 512-px tiles.

    OpenAI rounds the scaled sides to the nearest pixel: users see 2049x513 billed as 8 tiles and
    2050x513 as 4. A side that would round to 0 px (5000×1) still fills one row of tiles: OpenAI
    bills at least one tile.
    """
    w, h = float(width), float(height)
    if max(w, h) > 2048:
        scale = 2048 / max(w, h)
        w, h = _round_half_up(w * scale), _round_half_up(h * scale)
    if min(w, h) > 768:
        scale = 768 / min(w, h)
        w, h = _round_half_up(w * scale), _round_half_up(h * scale)
    return max(1, _ceil(w / 512)), max(1, _ceil(h / 512))


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
    """Mistral's rule, as its tokenizer (mistral_common) applies it: fit in longest_edge² (down only,
    sides rounded to the nearest pixel and never to 0), one [IMG] per patch, one [IMG_BREAK] per row
    (the last row's is [IMG_END]). Pixtral: 16-px patches, 1024 px. Mistral Small 3.x: 14-px patches
    merged 2×2 (28 px), 1540 px."""
    w, h = fit_within(width, height, longest_edge)
    cols, rows = math.ceil(w / patch), math.ceil(h / patch)
    return rows * (cols + 1), f"{rows} rows × ({cols} + 1)"


# --- Llama 3.2 Vision and Llama 4 ----------------------------------------------------------------------

def llama_canvas(width: int, height: int, tile: int, max_tiles: int) -> tuple[int, int]:
    """The canvas (rows, cols) of tiles the Mllama and Llama 4 processors choose: among all rows×cols
    ≤ max_tiles canvases, the smallest upscale that fits, else the mildest downscale; ties go to the
    smaller canvas."""
    canvases = [(r, c) for r in range(1, max_tiles + 1) for c in range(1, max_tiles + 1) if r * c <= max_tiles]
    scales = {rc: min(rc[0] * tile / height, rc[1] * tile / width) for rc in canvases}
    ups = [s for s in scales.values() if s >= 1]
    chosen = min(ups) if ups else max(scales.values())
    return min((rc for rc, s in scales.items() if s == chosen), key=lambda rc: rc[0] * rc[1])


def llama_vision_tile_count(width: int, height: int, tile: int = 560, max_tiles: int = 4) -> int:
    rows, cols = llama_canvas(width, height, tile, max_tiles)
    return rows * cols


def llama_vision(width: int, height: int, detail: str, *, tile: int = 560, patch: int = 14) -> tuple[int, str]:
    # Llama 3.2 Vision reads images through cross-attention (one <|image|> token in the text), so
    # hosts differ in what they bill; we report the vision encoder's positions: (560/14)² + 1 per tile.
    tiles = llama_vision_tile_count(width, height, tile)
    per_tile = (tile // patch) ** 2 + 1
    return tiles * per_tile, f"{_count(tiles, 'tile')} × {per_tile:,}"


def llama_4(width: int, height: int, detail: str, *, tile: int = 336, max_tiles: int = 16,
            per_tile: int = 144) -> tuple[int, str]:
    """Llama 4's processor (transformers' Llama4Processor): 336-px tiles on up to 16, each 144 tokens
    (24×24 patches, pixel-shuffled by 0.5) plus one separator; a global view is added when there is
    more than one tile; <|image_start|>, <|image|> and <|image_end|> wrap it all."""
    rows, cols = llama_canvas(width, height, tile, max_tiles)
    tiles = rows * cols
    crops = 0 if tiles == 1 else tiles * (per_tile + 1)
    return crops + per_tile + 3, f"{_count(tiles, 'tile')} × {per_tile} + global view + wrappers"


# --- Qwen2-VL / Qwen2.5-VL / Qwen3-VL -------------------------------------------------------------------

# The checkpoints' preprocessor_config.json, which vLLM, transformers and llama.cpp-free servers use
# unless told otherwise: Qwen2/2.5-VL allow up to 12,845,056 px (16,384 tokens of 28 px), Qwen3-VL
# up to 16,777,216 px (16,384 tokens of 32 px). Qwen's README suggests lowering it to 1280 tokens,
# but a server only does so when started with that setting.
QWEN2_MAX_PIXELS = 12_845_056
QWEN3_MAX_PIXELS = 16_777_216
# Ollama's own Qwen2.5-VL image processor caps images at 2 << 20 px unless the model file sets
# vision.max_pixels (ollama/ollama model/models/qwen25vl/process_image.go).
OLLAMA_QWEN25_MAX_PIXELS = 2 << 20


def qwen_smart_resize(width: int, height: int, factor: int = 28, min_pixels: int = 56 * 56,
                      max_pixels: int = QWEN2_MAX_PIXELS) -> tuple[int, int]:
    """Qwen's `smart_resize`: both sides multiples of `factor`, pixel count within [min, max]."""
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


def qwen_vl(width: int, height: int, detail: str, *, factor: int = 28, min_pixels: int = 56 * 56,
            max_pixels: int = QWEN2_MAX_PIXELS) -> tuple[int, str]:
    # One token per factor×factor block (2×2 merged patches), plus <|vision_start|> and <|vision_end|>.
    w_bar, h_bar = qwen_smart_resize(width, height, factor, min_pixels, max_pixels)
    cols, rows = w_bar // factor, h_bar // factor
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


# --- Gemma 3 -------------------------------------------------------------------------------------------

def gemma_3(width: int, height: int, detail: str) -> tuple[int, str]:
    # Gemma 3's processor resizes every image to one 896² view of 256 soft tokens, wrapped in
    # <start_of_image> ... <end_of_image>; pan & scan (more crops) is off by default.
    return 256 + 2, "fixed 256 + 2 (one 896² view)"


# --- LLaVA-1.5 and LLaVA-1.6 (LLaVA-NeXT) ----------------------------------------------------------------

def llava_15(width: int, height: int, detail: str) -> tuple[int, str]:
    # CLIP ViT-L/14 at 336 px: 24 × 24 patches whatever the input size.
    return 576, "fixed 576 (24 × 24 patches at 336 px)"


_OPENAI = r"(?:^|/)"  # bare OpenAI ids and provider-prefixed ones ("openai/gpt-4o")
_GPT_5_TILES = partial(openai_tiles, base=70, per_tile=140)

IMAGE_TOKEN_RULES: list[ImageTokenRule] = [
    # Order matters: the more specific id comes first (gpt-4o-mini before gpt-4o).
    ImageTokenRule("openai-gpt-4o-mini", _OPENAI + r"gpt-4o-mini",
                   partial(openai_tiles, base=2833, per_tile=5667)),
    ImageTokenRule("openai-patches", _OPENAI + r"gpt-(?:4\.1|5)-mini", partial(openai_patches, multiplier=1.62)),
    ImageTokenRule("openai-patches", _OPENAI + r"gpt-(?:4\.1|5)-nano", partial(openai_patches, multiplier=2.46)),
    ImageTokenRule("openai-patches", _OPENAI + r"o4-mini", partial(openai_patches, multiplier=1.72)),
    ImageTokenRule("openai-tiles", _OPENAI + r"(?:chatgpt-4o|gpt-4o|gpt-4\.1|gpt-4\.5|gpt-4-turbo|gpt-4-vision)",
                   partial(openai_tiles, base=85, per_tile=170)),
    # gpt-5 and gpt-5-chat-latest only: later GPT-5.x releases publish other constants, so they stay unknown.
    ImageTokenRule("openai-gpt-5-tiles", _OPENAI + r"gpt-5(?:-chat-latest|-\d{4}-\d{2}-\d{2})?$", _GPT_5_TILES),
    ImageTokenRule("openai-tiles", _OPENAI + r"(?:o1|o1-pro|o3|o3-pro)(?:-\d{4}-\d{2}-\d{2})?$",
                   partial(openai_tiles, base=75, per_tile=150)),
    # Claude 3.x and 4.0-4.6 share the published 1568 px / ~1,600-token limits; later models document
    # other limits, so they stay unknown until a rule is added for them.
    ImageTokenRule("claude", r"claude-(?:3(?:[-.]\d)?-(?:opus|sonnet|haiku)|(?:opus|sonnet|haiku)-4(?:[-.][0-6])?)"
                             r"(?:$|-\d{8}|-latest|@)", claude),
    ImageTokenRule("gemini-3", r"gemini-3(?:\.1)?-(?:pro|flash)", gemini_3),
    ImageTokenRule("gemini", r"gemini-(?:2|1\.5)", gemini_tiles),
    ImageTokenRule("pixtral", r"pixtral", pixtral),
    ImageTokenRule("mistral-small-3", r"mistral-small-(?:3|2503|2506)",
                   partial(pixtral, longest_edge=1540, patch=28)),
    ImageTokenRule("llama-3.2-vision", r"llama-?3\.2.*vision", llama_vision),
    ImageTokenRule("llama-4", r"llama-?4(?:[-.:_]|$)", llama_4),
    ImageTokenRule("qwen3-vl", r"qwen3-?vl", partial(qwen_vl, factor=32, min_pixels=65_536,
                                                     max_pixels=QWEN3_MAX_PIXELS)),
    ImageTokenRule("qwen2-vl", r"qwen2(?:\.5)?-?vl", qwen_vl,
                   by_provider={"ollama": partial(qwen_vl, max_pixels=OLLAMA_QWEN25_MAX_PIXELS)}),
    ImageTokenRule("gemma-3", r"gemma-?3(?!n)", gemma_3),
    ImageTokenRule("idefics3", r"smolvlm2?-(?:256m|500m)", partial(idefics3, seq_len=64, crop=512, longest_edge=2048)),
    ImageTokenRule("idefics3", r"smolvlm", partial(idefics3, seq_len=81, crop=384, longest_edge=1536)),
    ImageTokenRule("idefics3", r"idefics3", partial(idefics3, seq_len=169, crop=364, longest_edge=1456)),
    ImageTokenRule("llava-1.5", r"llava[-_]?(?:v?1\.5)", llava_15),
    # Ollama's `llava`, `llava:7b`, `llava:13b` and `llava:34b` are LLaVA 1.6 (Ollama's model page), run on
    # llama.cpp, which counts tiles whole; vLLM and transformers crop the padding away.
    ImageTokenRule("llava-1.6", r"(?:^|/)llava(?::(?:7b|13b|34b|latest|v1\.6))?$", llava_next_llama_cpp),
    ImageTokenRule("llava-1.6", r"llava[-_]?v?1\.6|llava-next", llava_next,
                   by_provider={"ollama": llava_next_llama_cpp}),
]


def image_token_rule(model_id: str) -> ImageTokenRule | None:
    return next((rule for rule in IMAGE_TOKEN_RULES if rule.matches(model_id)), None)


def estimate_image_tokens(model_id: str, width: int, height: int, detail: str = "auto",
                          provider: str | None = None) -> ImageTokens | None:
    """Tokens one image of `width`×`height` px costs on `model_id`; None when no rule knows the model.

    `provider` (the models file's name: "ollama", "vllm"...) picks a server's own resizing where it
    differs from the model's default."""
    if detail not in DETAILS:
        raise ConfigError(f"detail={detail!r} is not one of {', '.join(DETAILS)}")
    if width <= 0 or height <= 0:
        raise ImageError(f"image size {width}x{height} px has a side of zero or less")
    rule = image_token_rule(model_id)
    if rule is None:
        return None
    tokens, how = rule.for_provider(provider)(width, height, detail)
    return ImageTokens(tokens=tokens, family=rule.family, rule=how)
