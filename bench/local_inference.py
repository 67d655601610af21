"""Local inference speed on one tiny model and the same 50 images: score vs generate mode, batched vs one by one.

    python bench/local_inference.py                      # builds a tiny offline LLaVA in a temp folder
    python bench/local_inference.py --model DIR_OR_HUB_ID  # any local transformers model
    python bench/local_inference.py --quantization 4bit    # through bitsandbytes (on a CUDA GPU when there is one)
    python bench/local_inference.py --single-only          # run_model against the processor and model.generate

Prints figures, asserts nothing (timings depend on the machine). Generate mode runs up to 64 new tokens
(`--max-tokens`); the tokens actually generated are printed next to each figure, since a model that stops early
would flatter generate mode's time. Each figure is the fastest of `--rounds` passes over the 50 images (`--images`),
which keeps other load on a shared machine out of it; the side by side with the pipeline (alone:
`--pipeline-only`) alternates the two, one by one and at `--batch-size`, and reports medians. Its answers differ
from the pipeline's where an image is big enough for the backend to box-reduce it before the processor's own resize
(`_image_for`): given the images as the backend hands them, the pipeline answers the same. Goals: score mode ≥ 10×
faster per image than generate mode; batches of 8 ≥ 2× the one-by-one generate throughput; `run_batch` over the
images ≥ 0.9× the images/s of transformers' own image-text-to-text pipeline at the same batch size, with the same
greedy answers.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image, ImageOps  # noqa: E402

from workbench import run_model  # noqa: E402
from workbench.backends import ChatRequest  # noqa: E402
from workbench.backends.transformers_local import TransformersLocal, _image_for, load_model  # noqa: E402
from workbench.images import load_image  # noqa: E402
from workbench.models import ModelSpec  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
TASK = "pothole_severity"


def fifty_images(n: int = 50) -> list:
    """The sample images, each cropped and mirrored a little differently so that all 50 are distinct."""
    sources = sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".png"))
    images = []
    for i in range(n):
        pil = Image.open(sources[i % len(sources)]).convert("RGB")
        cut = 1 + i // len(sources)
        w, h = pil.size
        pil = pil.crop((cut * w // 40, cut * h // 40, w - cut * w // 60, h))
        images.append(load_image(ImageOps.mirror(pil) if i % 2 else pil))
    return images


def timed(fn, items, rounds: int) -> tuple[float, list]:
    """Seconds of the fastest of `rounds` passes over the items, and the last pass's outputs."""
    best, out = float("inf"), []
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn(items)
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="local model folder or hub id (default: a tiny offline LLaVA)")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    parser.add_argument("--quantization", choices=["4bit", "8bit"], help="load through bitsandbytes")
    parser.add_argument("--images", type=int, default=50, help="distinct images (varied crops of sample_images/)")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="only the side by side with transformers' pipeline")
    parser.add_argument("--single-only", action="store_true",
                        help="only single calls: run_model (as the compare app calls it) against model.generate")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if args.model is None:
            from workbench.testing import build_tiny_llava

            args.model = str(build_tiny_llava(Path(tmp) / "tiny-llava"))
        run(args)


def run(args) -> None:
    spec = ModelSpec(name="bench", backend="transformers", model=args.model, quantization=args.quantization)
    images = fifty_images(args.images)
    backend = TransformersLocal()
    run_model(images[0], TASK, spec, max_tokens=4)  # load the model, warm up
    if args.pipeline_only:
        against_pipeline(args, spec, images)
        return
    if args.single_only:
        single_against_generate(args, spec, images)
        return
    run_model(images[0], TASK, spec, mode="score")  # build the decision pipeline
    import torch

    print(f"model: {args.model} ({args.quantization or 'full precision'}, {load_model(spec).device})\n"
          f"images: {len(images)} (sample_images/, varied crops), task: {TASK}, "
          f"torch threads: {torch.get_num_threads()}, fastest of {args.rounds} rounds\n")

    score_s, scored = timed(lambda ims: [run_model(im, TASK, spec, mode="score") for im in ims], images, args.rounds)
    gen_s, generated = timed(lambda ims: [run_model(im, TASK, spec, max_tokens=args.max_tokens) for im in ims],
                             images, args.rounds)
    assert all(r.mode == "score" and r.status == "ok" for r in scored), [r.error for r in scored]
    gen_tokens = [r.output_tokens or 0 for r in generated]
    print("score vs generate mode, per image (run_model, one image at a time)")
    print(f"  score mode:    {1000 * score_s / len(images):8.1f} ms  (one forward pass, "
          f"{statistics.mean(r.input_tokens for r in scored):.0f} prompt tokens)")
    print(f"  generate mode: {1000 * gen_s / len(images):8.1f} ms  ({statistics.mean(gen_tokens):.1f} new tokens "
          f"on average, max {args.max_tokens}; {sum(t == args.max_tokens for t in gen_tokens)}/{len(images)} "
          f"ran the full {args.max_tokens})")
    print(f"  ratio: score mode is {gen_s / score_s:.1f}× faster (goal ≥ 10×)")
    if "vram_allocated_mb" in generated[-1].metrics:
        print(f"  peak VRAM of a generate call: {generated[-1].metrics['vram_allocated_mb']} MB allocated, "
              f"{generated[-1].metrics['vram_reserved_mb']} MB reserved")
    print()

    requests = [ChatRequest(prompt="Describe this road surface in detail.", images=[im], max_tokens=args.max_tokens)
                for im in images]
    single_s, single = timed(lambda rs: [backend.chat(spec, r) for r in rs], requests, args.rounds)
    batch_s, batched = timed(lambda rs: backend.chat_batch(spec, rs, batch_size=args.batch_size), requests,
                             args.rounds)
    failed = [r for r in batched if isinstance(r, Exception)]
    assert not failed, failed[:1]
    single_tokens = sum(r.output_tokens for r in single)
    batch_tokens = sum(r.output_tokens for r in batched)
    print(f"generate throughput, {len(images)} images, max {args.max_tokens} new tokens")
    print(f"  one by one:     {len(images) / single_s:7.1f} images/s  {single_tokens / single_s:8.0f} tokens/s  "
          f"({single_tokens} tokens)")
    print(f"  batches of {args.batch_size}:   {len(images) / batch_s:7.1f} images/s  {batch_tokens / batch_s:8.0f} "
          f"tokens/s  ({batch_tokens} tokens)")
    same = sum(a.text == b.text for a, b in zip(single, batched))
    print(f"  ratio: batches of {args.batch_size} give {single_s / batch_s:.1f}× the one-by-one throughput "
          f"(goal ≥ 2×); {same}/{len(images)} answers identical to one by one (greedy)")
    print()
    single_against_generate(args, spec, images)
    against_pipeline(args, spec, images)


def single_against_generate(args, spec: ModelSpec, images: list) -> None:
    """One image at a time, as the compare app calls a local model: `run_model` (the prompt rendered, the image
    prepared, generate on the model's inference thread, the answer parsed into a Result) against the processor and
    `model.generate` called directly on this thread with the same image and prompt. Taking turns image by image,
    `--rounds` passes; medians per image."""
    import torch

    from workbench.backends.transformers_local import load_model

    prompt = "Describe this road surface in detail."
    loaded = load_model(spec)

    def direct(image, pil=None) -> str:
        pil = image.pil if pil is None else pil
        chat = [{"role": "user", "content": [{"type": "image", "image": pil}, {"type": "text", "text": prompt}]}]
        inputs = loaded.processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=True,
                                                      return_dict=True, return_tensors="pt").to(loaded.device)
        with torch.inference_mode():
            out = loaded.model.generate(**inputs, max_new_tokens=args.max_tokens, do_sample=False)
        return loaded.processor.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    # The image as the local backend hands it to the processor (capped, box-reduced where big: `_image_for`).
    handed = [_image_for(loaded, spec, ChatRequest(prompt=prompt, images=[im]), im) for im in images]
    sides = {"run_model": lambda at: run_model(images[at], "ask", spec, prompt=prompt,
                                               max_tokens=args.max_tokens).raw_text,
             "generate": lambda at: direct(images[at]),
             "generate, the image as the backend hands it": lambda at: direct(images[at], handed[at])}
    times: dict[str, list[float]] = {side: [] for side in sides}
    answers: dict[str, list[str]] = {side: [] for side in sides}
    for round_ in range(args.rounds):
        for at in range(len(images)):
            for side, call in sides.items():
                start = time.perf_counter()
                text = call(at)
                times[side].append(time.perf_counter() - start)
                if round_ == 0:
                    answers[side].append(text.strip())
    ours = statistics.median(times["run_model"])
    print(f"single calls, {len(images)} images × {args.rounds} rounds, max {args.max_tokens} new tokens, taking turns; "
          "the processor and model.generate called directly on this thread")
    print(f"  run_model: {1000 * ours:7.1f} ms per image (median)")
    for side in list(sides)[1:]:
        theirs = statistics.median(times[side])
        same = sum(a == b for a, b in zip(answers["run_model"], answers[side]))
        print(f"  {side}: {1000 * theirs:7.1f} ms per image (median); run_model takes {ours / theirs:.2f}× its "
              f"time (goal ≤ 1×); {same}/{len(images)} answers identical (greedy)")
    print()


def against_pipeline(args, spec: ModelSpec, images: list) -> None:
    """run_batch (reading files, the store, the lane's batches) against transformers' pipeline on the same images,
    given to it decoded in memory and as the same PNG files, one by one and at `--batch-size`: the workbench's
    whole path against the library's. The three take turns, round after round, and each figure is the median of
    `--rounds` runs, so a neighbour's load on a shared machine falls on all alike."""
    from workbench import run_batch
    from workbench.testing import pipeline_answers

    prompt = "Describe this road surface in detail."
    pils = [im.pil for im in images]
    with tempfile.TemporaryDirectory() as tmp:
        for i, pil in enumerate(pils):
            pil.save(Path(tmp) / f"img{i:03d}.png")

        def batch(size: int) -> list[str]:  # a fresh store each run: a cached answer would not be a measurement
            db = Path(tmp) / f"run{time.perf_counter_ns()}.db"
            run = run_batch(tmp, "ask", [spec], prompts=prompt, db=db, max_tokens=args.max_tokens,
                            batch_size=size, progress=False)
            return run.results().sort_values("image_path")["raw_text"].tolist()

        sizes = sorted({1, args.batch_size})
        files = [str(path) for path in sorted(Path(tmp).glob("img*.png"))]
        sides = {"pipeline": lambda n: pipeline_answers(spec, pils, prompt, batch_size=n,
                                                        max_tokens=args.max_tokens),
                 "pipeline on the files": lambda n: pipeline_answers(spec, files, prompt, batch_size=n,
                                                                     max_tokens=args.max_tokens),
                 "run_batch": batch}
        times: dict = {(side, size): [] for side in sides for size in sizes}
        answers: dict = {}
        for _ in range(args.rounds):
            for size in sizes:
                for side, fn in sides.items():
                    start = time.perf_counter()
                    answers[side, size] = fn(size)
                    times[side, size].append(time.perf_counter() - start)
    print(f"run_batch vs transformers pipeline, {len(images)} images, max {args.max_tokens} new tokens, taking turns, "
          f"median of {args.rounds} runs each; the pipeline is given the images decoded in memory, or the PNG files "
          "that run_batch reads")
    for size in sizes:
        batch_s = statistics.median(times["run_batch", size])
        print(f"  batch size {size}: run_batch {len(images) / batch_s:6.1f} images/s (runs: "
              f"{', '.join(f'{len(images) / t:.1f}' for t in times['run_batch', size])})")
        for side in ("pipeline", "pipeline on the files"):
            pipe_s = statistics.median(times[side, size])
            paired = statistics.median(p / b for p, b in zip(times[side, size], times["run_batch", size]))
            same = sum(a == b for a, b in zip(answers["run_batch", size], answers[side, size]))
            print(f"    {side}: {len(images) / pipe_s:6.1f} images/s (runs: "
                  f"{', '.join(f'{len(images) / t:.1f}' for t in times[side, size])}); run_batch gives "
                  f"{pipe_s / batch_s:.2f}× its images/s (median of the runs' own ratios {paired:.2f}×; goal "
                  f"≥ 0.9× at batch {args.batch_size}); {same}/{len(images)} answers identical (greedy)")


if __name__ == "__main__":
    main()
