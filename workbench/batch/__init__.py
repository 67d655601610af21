"""Run many images through N models × M prompt versions: bounded, resumable, and never paying twice.

    from workbench.batch import run_batch, retry_failed
    run = run_batch("sample_images/", task="pii_detection", models=["GPT-4o mini (OpenAI)"])
    run.results()                # a DataFrame, one row per image × model × prompt version
    retry_failed(run.run_id)     # re-sends only the items stored as failures

Every item ends as a stored row — an answer or a typed failure — in the run store (`workbench.store`). Items
already stored in the run are skipped (resume), and a call whose image, prompt, model and parameters match a
stored answer is copied from the store instead of being sent (cache), unless `force=True`.

Each backend server is a *lane* with its own bounded concurrency: HTTP backends run as asyncio tasks on one
event loop; local backends run in one worker thread, batched through `chat_batch` where the backend has it.
A 429 pauses the whole lane (honouring retry-after) and halves its concurrency; after `max_auth_failures`
consecutive 401/403s the lane stops and its remaining items are stored as failures without being sent.
Images are read by a few decoder threads (`decoder_threads`) just ahead of the workers, and released once
their calls finish; on machines of 4 cores or more, big ones (1 MB files and up) are prepared in worker processes
instead (`photo_processes`), so that they never hold the GIL the event loop needs.

The package's parts: `inputs` (images, CSVs, labels, prompt versions), `items` (the items and their hashes),
`reader` (decoder threads and how many a lane uses), `photo_processes` (worker processes for big images), `cache`
(the store's and this batch's answers, single flight), `limiter` (a lane's concurrency), `retry` (retries,
backoff, the auth breaker), `sender` (a lane's calls), `lane` (the glue), `writer`, `progress`, `context` (what
the lanes share), `batch_api` (a provider's Batch API instead of the lanes: `run_batch(..., via="batch_api")`) and
`run` (the entry points).
"""
from __future__ import annotations

from .inputs import IMAGE_SUFFIXES, PATH_COLUMNS, BatchInput, collect_inputs, prompt_versions, with_labels
from .limiter import Limiter as _Limiter  # the name tests/test_batch.py imports
from .progress import BatchProgress
from .reader import decoder_threads
from .retry import DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_AUTH_FAILURES
from .run import DEFAULT_WORKERS, BatchRun, retry_failed, run_batch
from .writer import GROUP_COMMIT_S

__all__ = ["BatchInput", "BatchProgress", "BatchRun", "DEFAULT_MAX_ATTEMPTS", "DEFAULT_MAX_AUTH_FAILURES",
           "DEFAULT_WORKERS", "GROUP_COMMIT_S", "IMAGE_SUFFIXES", "PATH_COLUMNS", "collect_inputs",
           "decoder_threads", "prompt_versions", "retry_failed", "run_batch", "with_labels"]
