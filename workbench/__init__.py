"""VLM Workbench: which vision-language model, with which prompt, does my image task best — at what cost?

    import workbench
    df = workbench.compare("sample_images/road_pothole_severe.jpg", task="pothole_severity",
                           models=["SmolVLM-256M (local)", "Pixtral-12B (OpenRouter)"])

Importing this package is light: torch, transformers and the SDKs load inside the backend that needs them.
"""
from __future__ import annotations

import importlib

from .errors import (AuthError, BackendError, ConfigError, DeadlineError, ImageError, KeyMissingError,
                     MissingVariables, ProtocolError, RateLimitError, UnavailableError, WorkbenchError)

# Public name → module that defines it; loaded on first access so `import workbench` stays fast.
_LAZY = {
    "load_image": "images", "encode_image": "images", "LoadedImage": "images", "EncodedImage": "images",
    "TASKS": "tasks", "Task": "tasks", "get_task": "tasks", "register_task": "tasks",
    "ModelSpec": "models", "load_models": "models", "resolve_models": "models",
    "Result": "results",
    "parse_reply": "parsing",
    "compare": "comparison", "compare_results": "comparison", "compare_stream": "comparison",
    "CompareSnapshot": "comparison", "ModelProgress": "comparison", "run_model": "calls", "availability": "calls",
    "results_html": "cards", "result_card": "cards", "running_card": "cards", "cards_html": "cards",
    "snapshot_html": "cards",
    "PROVIDERS": "providers",
    "Playground": "playground", "ResultCards": "playground", "results_table": "tables",
    "notebook_params": "notebook_setup", "category_rates": "report", "kind_counts": "report", "local_speed": "report",
    "format_costs": "report", "plot_cost_vs_quality": "report", "plot_latency": "report",
    "run_batch": "batch", "evaluate_run": "evaluate", "plot_confusion": "evaluate",
    "plot_threshold_curve": "evaluate", "prompt_changes": "evaluate", "list_runs": "store",
    "retry_failed": "batch", "open_run": "store", "compare_runs": "store", "export_run": "exports",
    "estimate_call": "costs", "cost_table": "costs", "format_usd": "costs", "preview_costs": "cost_preview",
    "build_tiny_llava": "testing", "build_tiny_idefics3": "testing",
    "recommend": "decide", "Recommendation": "decide", "parse_bar": "decide",
    "write_report": "html_report", "report_html": "html_report", "ReportSection": "report_sections",
    "label_queue": "labels", "set_label": "labels", "export_labels": "labels", "allowed_labels": "labels",
    "gpu_call": "zerogpu", "on_zerogpu": "zerogpu", "gpu_seconds": "zerogpu",
}

__all__ = ["AuthError", "BackendError", "ConfigError", "DeadlineError", "ImageError", "KeyMissingError",
           "MissingVariables", "ProtocolError", "RateLimitError", "UnavailableError", "WorkbenchError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
