"""The fix for a failure, in the words of the surface the user is on: Python arguments, CLI flags, the app's boxes.

The workbench raises typed errors that carry what is missing (MissingVariables.names, KeyMissingError.env_var);
messages are first written for Python, and each other surface rewrites only the fix, here, in one place."""
from __future__ import annotations

import re

from .errors import MissingLabels, MissingVariables

SURFACES = ("python", "cli", "app")


def plural(n: int, word: str) -> str:
    """"1 item", "2 items": a count with its noun, as every surface prints one."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check(surface: str) -> None:
    if surface not in SURFACES:
        raise ValueError(f"surface={surface!r} is not one of {', '.join(SURFACES)}")


def variables_fix(names: list[str] | tuple[str, ...], surface: str = "python") -> str:
    """How to give the prompt variables a task is missing."""
    _check(surface)
    if surface == "cli":
        return " ".join(f"--var {n}=VALUE" for n in names)
    if surface == "app":
        return "fill the " + " and ".join(f"{n.replace('_', ' ').capitalize()} box" for n in names)
    return "pass variables={" + ", ".join(f"{n!r}: ..." for n in names) + "}"


def labels_fix(surface: str = "python") -> str:
    """How to give the expected labels that metrics and recommendations are computed against."""
    _check(surface)
    if surface == "cli":
        return "pass --labels FILE.csv (columns: path or file, and label), e.g. --labels sample_images/labels.csv"
    if surface == "app":
        return "label some images in the Label tab, or run the batch with a labels CSV"
    return "pass labels= (a CSV of path or file, and label), or run the batch with labels"


def key_fix(env: str, surface: str = "python") -> str:
    """How to provide an API key held in the environment variable `env`."""
    _check(surface)
    if surface == "cli":
        return f"export {env}=… or put it in .env"
    if surface == "app":
        return f"set {env} in .env or the API keys box"
    return f"set {env} in the environment or .env"


_PYTHON_KEY_FIX = re.compile(r"set ([A-Za-z_][A-Za-z0-9_]*) in the environment or \.env")


def reworded(text: str | None, surface: str) -> str | None:
    """A stored or already-raised message (a result's error, an availability note) with its Python fix rewritten
    for `surface`. Results keep the message as text, so the key's fix is found by its one Python form."""
    _check(surface)
    if not text or surface == "python":
        return text
    return _PYTHON_KEY_FIX.sub(lambda m: key_fix(m.group(1), surface), text)


def error_message(exc: BaseException, surface: str) -> str:
    """An exception's message for `surface`: rebuilt from what it carries where it says what is missing."""
    if isinstance(exc, MissingVariables):
        return f"{exc.subject} needs a value for {', '.join('{' + n + '}' for n in exc.names)} — " \
               f"{variables_fix(exc.names, surface)}{exc.csv_note}"
    if isinstance(exc, MissingLabels):
        return f"no labelled results in {exc.subject} — {labels_fix(surface)}"
    return reworded(str(exc), surface) or ""
