"""The workbench's typed exceptions. Every message says what went wrong and what to do about it."""
from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: catch this to handle any failure the workbench reports on purpose. `kind` is a short, stable
    label shown in result tables."""

    kind = "error"


class ImageError(WorkbenchError, ValueError):
    """The input could not be turned into an image we are willing to send to a model."""

    kind = "image_error"


class ConfigError(WorkbenchError, ValueError):
    """A models file, task name, prompt variable or setting is wrong."""

    kind = "config_error"


class MissingLabels(ConfigError):
    """No result of the runs has a label to be scored against. The message says the Python fix; workbench.wording
    words it for the CLI (--labels) and the app (the Label tab)."""

    def __init__(self, subject: str = "these runs"):
        self.subject = subject
        super().__init__(f"no labelled results in {subject} — pass labels= (a CSV of path or file, and label), or "
                         "run the batch with labels")


class MissingVariables(ConfigError):
    """A prompt has {variables} nobody gave a value for. `names`: those variables; `subject`: what needs them
    (e.g. "task 'tag_rating'"); `csv`: a CSV column could give them too (a batch). The message says how to pass
    them in Python; workbench.wording words the fix for the CLI and the app."""

    def __init__(self, subject: str, names: list[str] | tuple[str, ...], csv: bool = False):
        self.subject, self.names, self.csv = subject, tuple(names), csv
        given = ", ".join(f"{n!r}: ..." for n in self.names)
        super().__init__(f"{subject} needs a value for {', '.join('{' + n + '}' for n in self.names)} — "
                         f"pass variables={{{given}}}{self.csv_note}")

    @property
    def csv_note(self) -> str:
        return f" (or a CSV column named {' and '.join(self.names)})" if self.csv else ""


class BackendError(WorkbenchError):
    """A model call failed. `partial_text`: what a streamed reply had said before it failed."""

    kind = "backend_error"
    retryable = False
    partial_text: str | None = None


class KeyMissingError(BackendError):
    """No key for a model that needs one. `env_var`: the environment variable that would hold it."""

    kind = "key_missing"
    env_var: str | None = None


class AuthError(BackendError):
    kind = "auth_error"


class NotFoundError(BackendError):
    kind = "not_found"


class RateLimitError(BackendError):
    kind = "rate_limited"
    retryable = True
    retry_after: float | None = None  # seconds the server asked us to wait, when it said


class ServerError(BackendError):
    kind = "server_error"
    retryable = True


class DeadlineError(BackendError):
    kind = "timeout"


class ConnectionFailedError(BackendError):
    kind = "unreachable"
    retryable = True


class ProtocolError(BackendError):
    """The server answered, but not with a usable chat completion (HTML page, cut body, no choices, null content).

    Retryable: under load, proxies and servers send such answers now and then, and a second try is answered; a
    wrong base_url answers the same way every time, so the retries are few and the failure names the body."""

    kind = "protocol_error"
    retryable = True


class BadRequestError(BackendError):
    kind = "bad_request"


class UnavailableError(BackendError):
    """The backend cannot run here (missing package, wrong platform)."""

    kind = "unavailable"
