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
    self_hosted: bool = False  # runs on the user's own hardware: $0 per token unless a GPU-hour price is set
    batch_api: bool = False  # offers the Files + Batches endpoints (`run_batch(via="batch_api")`)


PROVIDERS: dict[str, Provider] = {
    "openai": Provider("OpenAI", "https://api.openai.com/v1", "OPENAI_API_KEY", json_schema=True, logprobs=True,
                       batch_api=True),
    "openrouter": Provider("OpenRouter", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", json_schema=True,
                           reports_cost=True),
    # Through their OpenAI-compatible endpoints. What each supports is from its compatibility docs (checked
    # 2026-12-02): Anthropic ignores response_format and logprobs; Gemini's accepts a JSON-schema
    # response_format but documents no logprobs. Neither reports a cost.
    "anthropic": Provider("Anthropic", "https://api.anthropic.com/v1/", "ANTHROPIC_API_KEY"),
    "gemini": Provider("Google Gemini", "https://generativelanguage.googleapis.com/v1beta/openai/", "GEMINI_API_KEY",
                       json_schema=True),
    "vllm": Provider("vLLM", "http://localhost:8000/v1", "VLLM_API_KEY", json_schema=True, logprobs=True,
                     self_hosted=True),
    "ollama": Provider("Ollama", "http://localhost:11434/v1", json_schema=True, self_hosted=True),
    "localai": Provider("LocalAI", "http://localhost:8080/v1", self_hosted=True),
    "lmstudio": Provider("LM Studio", "http://localhost:1234/v1", json_schema=True, self_hosted=True),
    "transformers-serve": Provider("transformers serve", "http://localhost:8000/v1", self_hosted=True),
    "custom": Provider("Custom URL", None),
}
# Servers on your own machine accept any key; vLLM only checks one when started with --api-key.
OPTIONAL_KEY = {"vllm"}
