"""Local models on a Hugging Face ZeroGPU Space, and nothing anywhere else.

On ZeroGPU a GPU is attached only while a function wrapped by the `spaces` package's `spaces.GPU` runs, in a worker
process forked for it, for at most the `duration` it asked for (a shorter ask is scheduled sooner; one past the
visitor's quota is refused). The Space says it is on ZeroGPU with `SPACES_ZERO_GPU=true`, which is what `spaces`
itself reads (`spaces.config.Settings.zero_gpu`). Anywhere else — `python app.py`, notebooks, the tests —
`gpu_call(fn, ...)` is `fn(...)`, and `spaces` is never imported.

    from workbench.zerogpu import gpu_call, prepare
    prepare(specs)        # app start-up, before anything imports torch (a no-op off ZeroGPU)
    reply = gpu_call(_chat_on_device, len(request.images), request.max_tokens, spec, request)

What `spaces` (0.51) expects, and why the code is shaped so:
- `import spaces` before CUDA is touched: it patches torch so that, in the main process, `torch.cuda.is_available()`
  is True and `.to("cuda")` only records the wish — the weights stay in CPU memory, are packed at launch and moved
  onto the GPU in the worker. `prepare` imports it first and loads the local models then: "on CPU at start-up".
- The wrapped function must exist before `demo.launch()` (`spaces` reports the Space's GPU functions at launch), so
  `prepare` builds the one runner every call goes through.
- The worker is another process: the function and its arguments are pickled to it and the result back. Pass
  module-level functions and plain data (a ModelSpec, a ChatRequest without its `on_text` callback); the worker, a
  fork, already holds the models loaded at start-up.
"""
from __future__ import annotations

import math
import os
import sys
import warnings
from typing import Any, Callable, Iterable, Mapping

# Seconds asked of ZeroGPU per call: a fixed part (moving the packed weights onto the GPU, the first CUDA kernels),
# a part per image (preprocessing and prefill of its image tokens) and a part per decode step. The README's H200
# figure for a 0.84 B model is 9.9 ms per token in bf16; a ZeroGPU slice is a fraction of an H200 and users pick
# bigger models, so ask 3x that. Estimates, not measurements of a Space: an ask too short gets ZeroGPU's duration
# warning (and may be cut off), one too long waits longer in ZeroGPU's queue.
BASE_S = 10.0
PER_IMAGE_S = 1.5
PER_TOKEN_S = 0.03
MIN_S = 15
DEFAULT_MAX_S = 120  # `spaces` refuses asks past the visitor's quota; WORKBENCH_ZEROGPU_MAX_S changes the cap

_runner: Callable | None = None
_MAIN_PID = os.getpid()  # a call made in another process is in a forked GPU worker


def on_zerogpu(environ: Mapping[str, str] | None = None) -> bool:
    """True on a ZeroGPU Space: SPACES_ZERO_GPU is "1", "t" or "true" (any case), as `spaces` itself decides."""
    value = (os.environ if environ is None else environ).get("SPACES_ZERO_GPU")
    return value is not None and value.lower() in ("1", "t", "true")


def max_seconds() -> int:
    try:
        return max(MIN_S, int(os.environ.get("WORKBENCH_ZEROGPU_MAX_S") or DEFAULT_MAX_S))
    except ValueError:
        return DEFAULT_MAX_S


def gpu_seconds(images: int | Iterable, max_tokens: int) -> int:
    """The GPU time to ask for one generate over `images` images with up to `max_tokens` new tokens (the images of
    one padded batch decode together, so tokens count once per call), between MIN_S and the cap."""
    count = images if isinstance(images, int) else len(list(images))
    seconds = BASE_S + PER_IMAGE_S * max(0, count) + PER_TOKEN_S * max(0, max_tokens)
    return int(min(max_seconds(), max(MIN_S, math.ceil(seconds))))


def _run(fn: Callable, images: int, max_tokens: int, args: tuple, kwargs: dict) -> Any:
    """What runs on the GPU: `images` and `max_tokens` are here only so that `_duration` sees them."""
    if os.getpid() != _MAIN_PID:
        _one_cpu_thread()
    return fn(*args, **kwargs)


def _one_cpu_thread() -> None:
    """In a forked worker (ZeroGPU's), torch's CPU thread pool inherited from the parent can hang the first parallel
    CPU op — seen here: a generate in a fork made after one in the parent hung until torch.set_num_threads(1). The
    GPU does the work in that worker; one CPU thread is enough."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def _duration(fn: Callable, images: int, max_tokens: int, args: tuple, kwargs: dict) -> int:
    """`spaces.GPU(duration=...)` calls this with the runner's own arguments, before asking for a GPU."""
    return gpu_seconds(images, max_tokens)


def build_runner(use_spaces: bool | None = None) -> Callable:
    """The runner every `gpu_call` goes through: `_run` wrapped by `spaces.GPU` with a duration sized per call, or
    `_run` itself. `use_spaces`: None = only on ZeroGPU; True = through `spaces.GPU` anyway (off ZeroGPU `spaces`
    hands the function back unchanged — the tests check that path on CPU)."""
    if use_spaces is None:
        use_spaces = on_zerogpu()
    if not use_spaces:
        return _run
    import spaces

    return spaces.GPU(_run, duration=_duration)


def gpu_call(fn: Callable, images: int | Iterable, max_tokens: int, /, *args, **kwargs) -> Any:
    """`fn(*args, **kwargs)`, on ZeroGPU under a GPU allocation sized for `images` and `max_tokens`; elsewhere a
    plain call. On ZeroGPU `fn` and the arguments are pickled to the GPU worker (see the module's notes)."""
    global _runner
    if _runner is None:
        _runner = build_runner()
    count = images if isinstance(images, int) else len(list(images))
    return _runner(fn, count, max_tokens, args, kwargs)


def prepare(specs: Iterable = (), load: Callable | None = None) -> list[str]:
    """At app start-up, before torch is imported. On ZeroGPU: import `spaces` first, build the GPU runner, and load
    every local (transformers) model now, so the GPU worker forks with the weights in memory; returns the names
    loaded. Elsewhere: nothing (models load at first use, as always) and []."""
    global _runner
    if not on_zerogpu():
        return []
    import spaces  # noqa: F401 — before torch: it patches torch for ZeroGPU

    _runner = build_runner(True)
    if load is None:
        import importlib  # by name, as the backend registry does: this module is imported by that backend

        load = importlib.import_module("workbench.backends.transformers_local").load_model
    loaded = []
    for spec in specs:
        if spec.backend != "transformers":
            continue
        try:
            load(spec)
        except Exception as e:  # noqa: BLE001 — the app still starts; the model reports its failure when used
            warnings.warn(f"{spec.name} was not loaded at start-up: {e}", stacklevel=2)
        else:
            loaded.append(spec.name)
    return loaded
