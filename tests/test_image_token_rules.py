"""Image-token rules for the 2026 model families, each against its provider's published examples or the
reference tokenizer/processor (mistral_common, transformers' PIL processors) where one can run offline."""
from __future__ import annotations

import math
import types

import pytest

from workbench.costs import estimate_call, estimate_image_tokens


def tokens(model_id, width, height, detail="auto"):
    return estimate_image_tokens(model_id, width, height, detail).tokens


# --- Providers' own worked examples ------------------------------------------------------------------

def test_claude_1000_square_is_about_1334_tokens():
    # Anthropic's vision docs: 1000×1000 px ≈ 1,334 tokens (w·h/750).
    assert tokens("claude-sonnet-4-5", 1000, 1000) == 1334
    assert tokens("claude-opus-4-6", 200, 200) == 54  # the docs' other examples: ~54 and, below, ~1590
    assert estimate_call("claude-sonnet-4-5", 1000, 1000).image_tokens == 1334


def test_claude_resizes_large_images_to_about_1600_tokens():
    assert tokens("claude-opus-4-1", 1092, 1092) == math.ceil(1092 * 1092 / 750)  # largest square sent as is
    assert 1500 < tokens("anthropic/claude-sonnet-4.5", 4000, 3000) <= 1600
    long_strip = estimate_image_tokens("claude-haiku-4-5", 3136, 400)  # long edge halved to 1568
    assert long_strip.tokens == math.ceil(1568 * 200 / 750)


def test_gemini_small_image_is_258_tokens():
    assert tokens("gemini-2.5-flash", 384, 384) == 258
    assert tokens("google/gemini-2.0-flash-001", 200, 300) == 258
    assert estimate_call("gemini-2.5-flash", 384, 256).image_tokens == 258


def test_gemini_larger_images_are_258_per_768_tile():
    assert tokens("gemini-2.5-pro", 385, 100) == 258
    assert tokens("gemini-2.5-pro", 1024, 1024) == 4 * 258
    assert tokens("gemini-2.5-flash", 1536, 768) == 2 * 258


def test_gemini_3_media_resolution_levels():
    from functools import partial

    from workbench.costs.hosted_rules import gemini_3

    assert tokens("gemini-3-pro-preview", 1000, 1000, "high") == 1120  # images default to high
    # The OpenAI-compatible endpoint documents no detail -> media_resolution mapping: low is not cheaper.
    assert tokens("gemini-3-flash-preview", 1000, 1000, "low") == 1120
    levels = {level: partial(gemini_3, media_resolution=level)(64, 64, "auto")[0] for level in ("low", "medium")}
    assert levels == {"low": 280, "medium": 560}


def test_gpt_5_tiles_worked_examples():
    # OpenAI's vision guide: gpt-5 uses 70 base + 140 per 512-px tile.
    assert tokens("gpt-5", 1024, 1024, "high") == 4 * 140 + 70
    assert tokens("gpt-5", 2048, 4096, "high") == 6 * 140 + 70
    assert tokens("gpt-5", 4096, 8192, "low") == 70


@pytest.mark.parametrize("model_id, multiplier", [("gpt-5-mini", 1.62), ("gpt-5-nano", 2.46)])
def test_gpt_5_patch_models_worked_examples(model_id, multiplier):
    # OpenAI's two patch examples: 1024×1024 → 1024 patches, 1800×2400 → 1452 patches.
    assert tokens(model_id, 1024, 1024) == math.ceil(1024 * multiplier)
    assert tokens(model_id, 1800, 2400) == math.ceil(round(1452 * multiplier, 6))


def test_gemma_3_is_fixed_per_crop():
    assert tokens("google/gemma-3-4b-it", 64, 64) == tokens("gemma3:27b", 4000, 3000) == 258


def test_models_without_a_published_rule_stay_unknown():
    for model_id in ("mistral-medium-2505", "gpt-5.4", "gemma-3n-e4b-it", "claude-opus-4-7", "gemini-3.5-flash"):
        assert estimate_image_tokens(model_id, 512, 512) is None
        assert estimate_call(model_id, 512, 512).cost is None


# --- Findings of "numbers that match the references" ---------------------------------------------------

def test_pixtral_rounds_like_mistral_common():
    # 825×1199 scales to 704.6×1024: Mistral rounds to 705 px = 45 columns, not 44.
    assert tokens("mistralai/pixtral-12b", 825, 1199) == 64 * 46 == 2944


@pytest.mark.parametrize("width, height, expected", [(1536, 1, 1 * 65), (3000, 2, 1 * 65), (1, 1536, 64 * 2)])
def test_thin_pixtral_images_get_one_row_or_column(width, height, expected):
    assert tokens("mistralai/pixtral-12b", width, height) == expected


def test_thin_image_gets_one_row_of_openai_tiles():
    assert tokens("gpt-4o", 5000, 1, "high") == 4 * 170 + 85
    assert tokens("gpt-4o", 1, 5000, "high") == 4 * 170 + 85


def test_qwen_25_vl_uses_the_checkpoints_max_pixels():
    # Billed by a vLLM server at default settings: 2,257 (was estimated 1,232 under a 1,280-token cap).
    assert tokens("Qwen/Qwen2.5-VL-7B-Instruct", 1536, 1152) == 2257


def test_qwen_25_vl_on_ollama_uses_ollamas_own_cap():
    # Ollama's processor caps at 2 << 20 px: 2048² goes to 51 × 51 blocks, not the checkpoint's 73 × 73.
    assert estimate_image_tokens("qwen2.5vl:7b", 2048, 2048, provider="ollama").tokens == 51 * 51 + 2
    assert estimate_image_tokens("Qwen/Qwen2.5-VL-7B-Instruct", 2048, 2048, provider="vllm").tokens == 73 * 73 + 2
    assert estimate_call("qwen2.5vl:7b", 2048, 2048, provider="ollama", local=True).image_tokens == 51 * 51 + 2


def test_ollama_llava_is_llava_16():
    # Ollama runs LLaVA 1.6 on llama.cpp, which keeps whole 336-px tiles: 1536×1152 goes to the 672×672
    # canvas, 4 tiles + the overview, 576 tokens each (was a fixed 576 under the LLaVA 1.5 rule).
    est = estimate_image_tokens("llava:7b", 1536, 1152)
    assert est.family == "llava-1.6" and est.tokens == 5 * 576
    assert tokens("llava:7b", 336, 336) == 3 * 576  # the 336×672 canvas: 2 tiles + overview
    hf_id = "llava-hf/llava-v1.6-mistral-7b-hf"
    assert estimate_image_tokens(hf_id, 1536, 1152, provider="ollama").tokens == 5 * 576
    # transformers and vLLM crop the padding away: 36 of the 2×2 grid's 48 feature rows, plus a newline per row.
    assert estimate_image_tokens(hf_id, 1536, 1152, provider="vllm").tokens == 576 + 36 * 49


# --- Against the reference implementations -----------------------------------------------------------

SIZES = [(512, 512), (1024, 1024), (640, 480), (480, 640), (1000, 3000), (2048, 1000), (37, 91), (1280, 720),
         (1121, 561), (825, 1199), (1536, 1152), (1536, 1), (3000, 2), (1, 1536), (1540, 1541), (33, 2000)]


def _mistral_count(width, height, patch, max_size, merge):
    common = pytest.importorskip("mistral_common")
    from mistral_common.protocol.instruct.chunk import ImageChunk
    from mistral_common.tokens.tokenizers.image import ImageConfig, ImageEncoder, SpecialImageIDs
    from PIL import Image

    del common
    encoder = ImageEncoder(ImageConfig(patch, max_size, merge), SpecialImageIDs(img=10, img_break=12, img_end=13))
    return len(encoder(ImageChunk(image=Image.new("RGB", (width, height)))).tokens)


@pytest.mark.parametrize("width, height", SIZES)
def test_pixtral_matches_mistral_common(width, height):
    # Pixtral-12B's tokenizer config: 16-px patches, 1024 px, no merge.
    assert tokens("mistralai/pixtral-12b", width, height) == _mistral_count(width, height, 16, 1024, 1)


@pytest.mark.parametrize("width, height", SIZES)
def test_mistral_small_matches_mistral_common(width, height):
    # Mistral-Small-3.1's tokenizer config: 14-px patches merged 2×2, 1540 px.
    assert tokens("mistral-small-3.1-24b-instruct", width, height) == _mistral_count(width, height, 14, 1540, 2)


def _qwen_grid_tokens(width, height, **config):
    pytest.importorskip("transformers")
    from PIL import Image
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    processor = Qwen2VLImageProcessorPil(**config)
    _, grid_h, grid_w = processor(Image.new("RGB", (width, height)), return_tensors="np")["image_grid_thw"][0]
    return int(grid_h * grid_w) // 4 + 2


@pytest.mark.parametrize("width, height", [s for s in SIZES if max(s) / min(s) < 200])
def test_qwen_vl_matches_the_checkpoint_processors(width, height):
    # The size limits of Qwen2.5-VL's and Qwen3-VL's preprocessor_config.json.
    qwen25 = _qwen_grid_tokens(width, height, size={"shortest_edge": 3136, "longest_edge": 12_845_056})
    assert tokens("Qwen/Qwen2.5-VL-7B-Instruct", width, height) == qwen25
    qwen3 = _qwen_grid_tokens(width, height, patch_size=16, merge_size=2,
                              size={"shortest_edge": 65_536, "longest_edge": 16_777_216})
    assert tokens("Qwen/Qwen3-VL-8B-Instruct", width, height) == qwen3


@pytest.mark.parametrize("width, height", SIZES)
def test_llava_next_matches_the_transformers_processor(width, height):
    pytest.importorskip("transformers")
    from transformers.models.llava_next.processing_llava_next import LlavaNextProcessor

    from workbench.costs.llava_next import LLAVA_16_PINPOINTS

    processor = types.SimpleNamespace(
        image_processor=types.SimpleNamespace(image_grid_pinpoints=[list(p) for p in LLAVA_16_PINPOINTS]),
        patch_size=14, num_additional_image_tokens=1, vision_feature_select_strategy="default")
    processor._get_unpadded_features = types.MethodType(LlavaNextProcessor._get_unpadded_features, processor)
    # "default" drops the CLS token the count includes, as LlavaNextProcessor does when expanding <image>.
    expected = LlavaNextProcessor._get_number_of_features(processor, height, width, 336, 336) - 1
    assert tokens("llava-hf/llava-v1.6-mistral-7b-hf", width, height) == expected


def test_llama_4_tiles_follow_the_published_processor():
    # transformers' Llama4 image processor needs torchvision, which these machines cannot install, so
    # this checks the processor's published arithmetic by hand: 336-px tiles, 144 tokens each + 1
    # separator, a global view when there is more than one tile, 3 wrapper tokens.
    assert tokens("meta-llama/Llama-4-Scout-17B-16E-Instruct", 336, 336) == 144 + 3
    assert tokens("llama-4-maverick", 672, 336) == 2 * 145 + 144 + 3
    assert tokens("llama4:scout", 1024, 768) == 12 * 145 + 144 + 3  # 3 × 4 canvas, 1.3125× upscale
    assert estimate_image_tokens("Meta-Llama-405B", 512, 512) is None  # "llama-4" only as a whole name part


def test_agreement_bench_runs_on_a_small_grid():
    pytest.importorskip("mistral_common")
    pytest.importorskip("transformers")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "token_agreement.py"
    spec = importlib.util.spec_from_file_location("token_agreement", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    sizes = [(825, 1199), (1536, 1), (640, 480), (2100, 300)]
    for label, model_id, factory in bench.CHECKS:
        agree, total, misses = bench.agreement(model_id, factory(), sizes)
        assert agree == total > 0, (label, misses)
    agree, total, _ = bench.agreement(bench.old_pixtral, bench.mistral_reference(16, 1024, 1), sizes)
    assert agree < total  # the old rule's 825×1199 miss
