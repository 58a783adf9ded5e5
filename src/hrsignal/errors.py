"""The one exception tree of hrsignal.

Data problems (a bad row, a bad date) are *findings*, returned as data by the validator
(:class:`hrsignal.scenarios.Finding`); exceptions are for "cannot continue". Every exception
raised on purpose by hrsignal derives from :class:`HrsignalError`, so the edges convert them
in one place:

* the CLI prints ``str(error)`` (never a traceback) and exits with ``error.exit_code``;
* the HTTP layer answers with ``error.http_status`` and one JSON error shape.

Tree::

    HrsignalError                 exit 2, HTTP 500 (a bug or an environment problem)
    ├── UsageError                exit 2, HTTP 400 (bad option, bad argument)
    ├── ConfigError               exit 2, HTTP 500 (bad configuration file, mapping, policy)
    ├── InputFileError            exit 2, HTTP 400 (a file that cannot be opened or read)
    ├── DataRejectedError         exit 1, HTTP 400 (the data was read and rejected)
    ├── AuthError                 exit 4, HTTP 401 (credentials refused, token invalid)
    │   └── ForbiddenError        exit 4, HTTP 403
    ├── NotFoundError             exit 2, HTTP 404
    ├── ConflictError             exit 2, HTTP 409
    ├── PayloadTooLargeError      exit 2, HTTP 413
    ├── TransportError            exit 5, HTTP 502 (network, timeouts, remote 5xx after retries)
    │   └── RemoteRejectedError   exit 3, HTTP 502 (the remote answered a non-retryable 4xx)
    └── StoreError                exit 2, HTTP 503 (the database is unavailable or full)
"""

from __future__ import annotations


class HrsignalError(Exception):
    """Base of every error hrsignal raises on purpose."""

    exit_code: int = 2
    http_status: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(HrsignalError):
    """A command-line option or API argument is wrong."""

    http_status = 400
    code = "bad_request"


class ConfigError(HrsignalError):
    """A configuration, mapping or policy document is invalid."""

    code = "config_error"


class InputFileError(HrsignalError):
    """A file cannot be opened or read at all (missing, unreadable, a directory)."""

    http_status = 400
    code = "unreadable_input"


class DataRejectedError(HrsignalError):
    """The data was read, and rejected as a whole (e.g. a mandatory column is missing)."""

    exit_code = 1
    http_status = 400
    code = "data_rejected"


class AuthError(HrsignalError):
    """Credentials were refused or a token is missing, expired or invalid."""

    exit_code = 4
    http_status = 401
    code = "unauthorized"


class ForbiddenError(AuthError):
    """The caller is authenticated but may not do this."""

    http_status = 403
    code = "forbidden"


class NotFoundError(HrsignalError):
    """The named object (job, app, upload, alert) does not exist."""

    http_status = 404
    code = "not_found"


class ConflictError(HrsignalError):
    """The request conflicts with the current state (e.g. a name already taken)."""

    http_status = 409
    code = "conflict"


class PayloadTooLargeError(HrsignalError):
    """A request body or file is over the configured limit."""

    http_status = 413
    code = "payload_too_large"


class TransportError(HrsignalError):
    """The network failed, or the remote kept failing after the retries allowed."""

    exit_code = 5
    http_status = 502
    code = "transport_error"


class RemoteRejectedError(TransportError):
    """The remote answered with a non-retryable 4xx; the data was not accepted."""

    exit_code = 3

    def __init__(
        self, message: str, *, status: int, body: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.body = body


class StoreError(HrsignalError):
    """The database cannot be reached, is full, or is in an unexpected state."""

    http_status = 503
    code = "store_unavailable"
