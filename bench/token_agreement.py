"""How often the workbench's image-token estimates agree with the reference implementations.

    python bench/token_agreement.py [--step 12] [--max 2100]

Sweeps every width × height on a grid (default: 12-px steps from 1 to 2,100 px, 30,625 sizes), then every
size with the 1,536-px long edge the workbench sends by default (3,071 sizes), and counts the sizes where
`estimate_image_tokens` equals the reference: Mistral's own tokenizer (mistral_common) for Pixtral-12B
and Mistral Small 3.1, and the functions transformers' processors call for Qwen2.5-VL and Qwen3-VL
(smart_resize), LLaVA 1.6 (select_best_resolution + unpadding) and Llama 3.2 Vision (the tiled canvas).
Also prints the old Pixtral rule (floor instead of round) for comparison. Needs mistral-common and
transformers (tests' requirements).
"""
from __future__ import annotations

import argparse
import math
import sys
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench.costs import estimate_image_tokens  # noqa: E402
from workbench.costs.llava_next import LLAVA_16_PINPOINTS  # noqa: E402


def mistral_reference(patch: int, max_size: int, merge: int):
    from mistral_common.tokens.tokenizers.image import ImageConfig, ImageEncoder, SpecialImageIDs

    encoder = ImageEncoder(ImageConfig(patch, max_size, merge), SpecialImageIDs(img=10, img_break=12, img_end=13))

    def count(w, h):
        cols, rows = encoder._image_to_num_tokens(types.SimpleNamespace(size=(w, h)))  # reads .size only
        return rows * (cols + 1)
    return count


def qwen_reference(factor: int, min_pixels: int, max_pixels: int):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    def count(w, h):
        if max(w, h) / min(w, h) > 200:  # the processor refuses these
            return None
        rh, rw = smart_resize(h, w, factor=factor, min_pixels=min_pixels, max_pixels=max_pixels)
        return (rh // factor) * (rw // factor) + 2
    return count


def llava_next_reference():
    from transformers.models.llava_next.processing_llava_next import LlavaNextProcessor

    proc = types.SimpleNamespace(
        image_processor=types.SimpleNamespace(image_grid_pinpoints=[list(p) for p in LLAVA_16_PINPOINTS]),
        patch_size=14, num_additional_image_tokens=1, vision_feature_select_strategy="default")
    proc._get_unpadded_features = types.MethodType(LlavaNextProcessor._get_unpadded_features, proc)
    return lambda w, h: LlavaNextProcessor._get_number_of_features(proc, h, w, 336, 336) - 1


def mllama_reference():
    from transformers.models.mllama.image_processing_pil_mllama import get_optimal_tiled_canvas

    def count(w, h):
        ch, cw = get_optimal_tiled_canvas(h, w, 4, 560)
        return (ch // 560) * (cw // 560) * 1601
    return count


def old_pixtral(w, h):
    ratio = max(w / 1024, h / 1024)
    if ratio > 1:
        w, h = math.floor(w / ratio), math.floor(h / ratio)
    return math.ceil(h / 16) * (math.ceil(w / 16) + 1)


CHECKS = [  # (label, model id the workbench sees, reference factory)
    ("Pixtral-12B vs mistral_common", "mistralai/pixtral-12b", lambda: mistral_reference(16, 1024, 1)),
    ("Mistral Small 3.1 vs mistral_common", "mistral-small-3.1-24b-instruct", lambda: mistral_reference(14, 1540, 2)),
    ("Qwen2.5-VL vs transformers smart_resize", "Qwen/Qwen2.5-VL-7B-Instruct",
     lambda: qwen_reference(28, 3136, 12_845_056)),
    ("Qwen3-VL vs transformers smart_resize", "Qwen/Qwen3-VL-8B-Instruct",
     lambda: qwen_reference(32, 65_536, 16_777_216)),
    ("LLaVA 1.6 vs transformers LlavaNextProcessor", "llava-hf/llava-v1.6-mistral-7b-hf", llava_next_reference),
    ("Llama 3.2 Vision vs transformers Mllama canvas", "llama-3.2-11b-vision", mllama_reference),
]


def agreement(model_id, reference, sizes) -> tuple[int, int, list]:
    agree = total = 0
    misses = []
    for w, h in sizes:
        expected = reference(w, h)
        if expected is None:
            continue
        total += 1
        got = model_id(w, h) if callable(model_id) else estimate_image_tokens(model_id, w, h).tokens
        if got == expected:
            agree += 1
        elif len(misses) < 3:
            misses.append((w, h, got, expected))
    return agree, total, misses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=12)
    parser.add_argument("--max", type=int, default=2100)
    args = parser.parse_args()
    sides = range(1, args.max + 1, args.step)
    grid = [(w, h) for w in sides for h in sides]
    edge = sorted({(w, 1536) for w in range(1, 1537)} | {(1536, h) for h in range(1, 1537)})
    old = ("old Pixtral rule (floor) vs mistral_common", old_pixtral, lambda: mistral_reference(16, 1024, 1))
    rows = [*CHECKS, old]
    for title, sizes in ((f"{len(grid):,} sizes, {args.step}-px steps from 1 to {args.max} px", grid),
                         (f"{len(edge):,} sizes with a 1,536-px long edge", edge)):
        print(title)
        for label, model_id, factory in rows:
            agree, total, misses = agreement(model_id, factory(), sizes)
            example = f"  e.g. (w, h, estimate, reference) {misses}" if misses else ""
            print(f"  {label}: {agree:,}/{total:,} = {100 * agree / total:.2f} %{example}")


if __name__ == "__main__":
    main()
