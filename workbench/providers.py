"""OpenAI-compatible providers: where they live, which key they need, what they support."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Provider:
    label: str
    base_url: str | None
    key_env: str | None = None  # None: the server takes no key
    json_schema: bool = False
    logprobs: bool = False
    reports_cost: bool = False


PROVIDERS: dict[str, Provider] = {
    "openai": Provider("OpenAI", "https://api.openai.com/v1", "OPENAI_API_KEY", json_schema=True, logprobs=True),
    "openrouter": Provider("OpenRouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", json_schema=True,
                           reports_cost=True),
    "vllm": Provider("vLLM", "http://localhost:8000/v1", "VLLM_API_KEY", json_schema=True, logprobs=True),
    "ollama": Provider("Ollama", "http://localhost:11434/v1", json_schema=True),
    "localai": Provider("LocalAI", "http://localhost:8080/v1"),
    "lmstudio": Provider("LM Studio", "http://localhost:1234/v1", json_schema=True),
    "transformers-serve": Provider("transformers serve", "http://localhost:8000/v1"),
    "custom": Provider("Custom URL", None),
}
# Servers on your own machine accept any key; vLLM only checks one when started with --api-key.
OPTIONAL_KEY = {"vllm"}
