"""The parameters every task notebook starts with, read from the environment so CI can override them.

    params = workbench.notebook_params("moderation")
    params.models        # what the notebook runs: WORKBENCH_NOTEBOOK_MODELS, else the models file's ticked ones
    params.labels        # the task's rows of sample_images/labels.csv, with a `path` column
    params.ready(params.cloud_models)   # the paid models whose key is set; says which are skipped and why

Environment variables (all optional):
    WORKBENCH_MODELS            the models file (see README)
    WORKBENCH_NOTEBOOK_MODELS   comma-separated model names to run, instead of the ticked (`selected`) ones
    WORKBENCH_SAMPLES           the folder of sample images with labels.csv (default: sample_images/)
    WORKBENCH_MAX_TOKENS        max new tokens per call (default 256)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .calls import availability
from .errors import ConfigError
from .images import IMAGE_SUFFIXES
from .models import ModelSpec, load_models, models_file, resolve_models
from .tasks import get_task

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_MAX_TOKENS = 256


def sample_images_dir() -> Path:
    """WORKBENCH_SAMPLES, else the nearest sample_images/ above the working folder, else the repository's."""
    if os.environ.get("WORKBENCH_SAMPLES"):
        folder = Path(os.environ["WORKBENCH_SAMPLES"])
        if not folder.is_dir():
            raise ConfigError(f"WORKBENCH_SAMPLES={folder} is not a folder — point it at a folder of images")
        return folder
    here = Path.cwd().resolve()
    for base in (here, *here.parents, Path(__file__).resolve().parents[1]):
        if (base / "sample_images").is_dir():
            return base / "sample_images"
    raise ConfigError("no sample_images/ folder found — run from the repository or set WORKBENCH_SAMPLES")


def image_files(folder: str | Path) -> list[Path]:
    """The image files in a folder (not recursive), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def task_labels(task: str, folder: str | Path | None = None) -> "pd.DataFrame":
    """The rows of labels.csv for one task, with an absolute `path` per image (empty when there is no CSV)."""
    import pandas as pd

    name = get_task(task).name
    folder = Path(folder) if folder else sample_images_dir()
    csv = folder / "labels.csv"
    if not csv.exists():
        return pd.DataFrame(columns=["file", "task", "label", "tag", "path"])
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    frame = frame[frame["task"] == name].reset_index(drop=True)
    frame["path"] = [str(folder / name) for name in frame["file"]]
    return frame


def models_from_env(catalog: list[ModelSpec] | None = None) -> list[ModelSpec]:
    """WORKBENCH_NOTEBOOK_MODELS (comma-separated names), else the models file's ticked (`selected`) models."""
    catalog = catalog if catalog is not None else load_models()
    names = [n.strip() for n in os.environ.get("WORKBENCH_NOTEBOOK_MODELS", "").split(",") if n.strip()]
    return resolve_models(names or None, catalog)


def needs_key(spec: ModelSpec) -> bool:
    """A hosted model billed per call: not local, and its provider asks for a key."""
    return not spec.is_local and bool(spec.resolved_key_env)


def ready(specs: list[ModelSpec], keys: dict[str, str] | None = None, *,
          say: Callable[[str], None] | None = print) -> list[ModelSpec]:
    """The models that can run now. Each one left out is named with the reason and what to do about it."""
    keep = []
    for spec in specs:
        status = availability(spec, keys)
        if status.ready:
            keep.append(spec)
        elif say:
            say(f"skipped {spec.name}: {status.status} — {status.message}")
    return keep


def model_status(specs: list[ModelSpec], keys: dict[str, str] | None = None) -> "pd.DataFrame":
    """One row per model: where it runs, whether it can run now, and what to do if not."""
    import pandas as pd

    rows = []
    for spec in specs:
        status = availability(spec, keys)
        rows.append({"model": spec.name, "backend": spec.provider or spec.backend, "model_id": spec.model,
                     "local": spec.is_local, "key": spec.resolved_key_env, "status": status.status,
                     "note": status.message})
    return pd.DataFrame(rows, columns=["model", "backend", "model_id", "local", "key", "status", "note"])


@dataclass
class NotebookParams:
    task: str
    models: list[ModelSpec]  # what the notebook runs
    catalog: list[ModelSpec]  # every entry of the models file (the playground lists them all)
    samples: Path
    labels: "pd.DataFrame"  # the task's labelled sample images: file, label, tag, path
    max_tokens: int = DEFAULT_MAX_TOKENS
    keys: dict[str, str] = field(default_factory=dict)  # session keys; the environment and .env are read anyway

    @property
    def images(self) -> list[str]:
        """The task's labelled sample images, in labels.csv order."""
        return list(dict.fromkeys(self.labels["path"]))

    @property
    def all_images(self) -> list[str]:
        return [str(p) for p in image_files(self.samples)]

    @property
    def labels_csv(self) -> Path:
        """The labels file a batch reads (path, task, label, tag): only this task's rows are used."""
        return self.samples / "labels.csv"

    @property
    def cloud_models(self) -> list[ModelSpec]:
        """The models file's hosted, paid models (whether or not their key is set)."""
        return [s for s in self.catalog if needs_key(s)]

    def model_status(self) -> "pd.DataFrame":
        """Every model of the models file: can it run now, and if not, why."""
        return model_status(self.catalog, self.keys)

    def ready(self, specs: list[ModelSpec], *, say: Callable[[str], None] | None = print) -> list[ModelSpec]:
        return ready(specs, self.keys, say=say)

    def __repr__(self) -> str:
        return (f"NotebookParams(task={self.task!r}, models={[s.name for s in self.models]}, "
                f"images={len(self.images)} labelled in {self.samples}, max_tokens={self.max_tokens}, "
                f"models file={models_file()})")


def notebook_params(task: str, *, models=None, samples: str | Path | None = None, max_tokens: int | None = None,
                    keys: dict[str, str] | None = None) -> NotebookParams:
    """A task notebook's parameters: arguments win over the environment, which wins over the defaults."""
    task = get_task(task).name
    catalog = load_models()
    specs = resolve_models(models, catalog) if models is not None else models_from_env(catalog)
    folder = Path(samples) if samples else sample_images_dir()
    if max_tokens is None:
        try:
            max_tokens = int(os.environ.get("WORKBENCH_MAX_TOKENS") or DEFAULT_MAX_TOKENS)
        except ValueError:
            raise ConfigError(f"WORKBENCH_MAX_TOKENS={os.environ['WORKBENCH_MAX_TOKENS']!r} is not a number") \
                from None
    return NotebookParams(task=task, models=specs, catalog=catalog, samples=folder, labels=task_labels(task, folder),
                          max_tokens=max_tokens, keys=dict(keys or {}))
