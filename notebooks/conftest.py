"""Run the notebooks (nbval) against tiny offline models, never the hub and never a paid API.

nbval starts one kernel per notebook in the notebook's collector setup, which runs inside the first cell's
`pytest_runtest_setup`; fixtures never reach it. So the hook below, which wraps that setup, builds the tiny models
once, writes a models file and puts the environment in place just while the kernel starts: the kernel inherits it,
and the pytest process itself (and every test in tests/) keeps its own environment.

The models file is the shipped default list with the default local model (SmolVLM) swapped for a tiny SmolVLM-
architecture folder, plus a tiny LLaVA: the notebooks run exactly the user's configuration, offline, and the paid
models in it have no key, so the cells that need one show that they are skipped.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Notebook kernels get small outputs: random weights never stop on their own, and CI has ~3 minutes for all.
MAX_TOKENS = "24"
REPO = Path(__file__).resolve().parents[1]
_ENV_KEY = pytest.StashKey[dict]()


def _build_environment(folder: Path) -> dict[str, str]:
    from workbench.models import DEFAULT_LOCAL_MODEL, DEFAULT_MODELS_FILE
    from workbench.providers import PROVIDERS
    from workbench.testing import build_tiny_idefics3, build_tiny_llava

    smolvlm = build_tiny_idefics3(folder / "tiny-smolvlm", declare_smolvlm=True)
    llava = build_tiny_llava(folder / "tiny-llava")
    text = DEFAULT_MODELS_FILE.read_text(encoding="utf-8").replace(f'"{DEFAULT_LOCAL_MODEL}"', f'"{smolvlm}"')
    text += (f'\n[[models]]\nname = "Tiny LLaVA (local)"\nbackend = "transformers"\nmodel = "{llava}"\n'
             'selected = true\nprice = { gpu_hour_usd = 1.2 }\n')
    models = folder / "models.toml"
    models.write_text(text, encoding="utf-8")
    # Kernels start in notebooks/: the repository root goes on their path, as `pip install -e .` does for a user.
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {"WORKBENCH_MODELS": str(models), "WORKBENCH_MAX_TOKENS": MAX_TOKENS, "WORKBENCH_DB": str(folder / "runs.db"),
           "WORKBENCH_SAMPLES": str(REPO / "sample_images"), "PYTHONPATH": path, "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    # An empty value hides a developer's real key (and .env, which never overrides a set variable).
    env.update({p.key_env: "" for p in PROVIDERS.values() if p.key_env})
    return env


def _notebook_environment(config: pytest.Config) -> dict[str, str]:
    if _ENV_KEY not in config.stash:
        folder = Path(tempfile.mkdtemp(prefix="workbench-notebooks-"))
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
        config.stash[_ENV_KEY] = _build_environment(folder)
    return config.stash[_ENV_KEY]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item):
    if not str(item.path).endswith(".ipynb"):
        yield
        return
    env = _notebook_environment(item.config)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield  # nbval starts the notebook's kernel here, with this environment
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
