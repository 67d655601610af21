"""The workbench's typed exceptions. Every message says what went wrong and what to do about it."""
from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: catch this to handle any failure the workbench reports on purpose."""


class ImageError(WorkbenchError, ValueError):
    """The input could not be turned into an image we are willing to send to a model."""


class ConfigError(WorkbenchError, ValueError):
    """A models file, task name, prompt variable or setting is wrong."""


class BackendError(WorkbenchError):
    """A model call failed. `kind` is a short, stable label shown in result tables."""

    kind = "backend_error"
    retryable = False


class KeyMissingError(BackendError):
    kind = "key_missing"


class AuthError(BackendError):
    kind = "auth_error"


class NotFoundError(BackendError):
    kind = "not_found"


class RateLimitError(BackendError):
    kind = "rate_limited"
    retryable = True


class ServerError(BackendError):
    kind = "server_error"
    retryable = True


class DeadlineError(BackendError):
    kind = "timeout"


class ConnectionFailedError(BackendError):
    kind = "unreachable"
    retryable = True


class ProtocolError(BackendError):
    """The server answered, but not with a usable chat completion (HTML page, cut body, no choices)."""

    kind = "protocol_error"


class BadRequestError(BackendError):
    kind = "bad_request"


class UnavailableError(BackendError):
    """The backend cannot run here (missing package, wrong platform)."""

    kind = "unavailable"
