"""The one JSON error shape of the HTTP API, and the conversion of hrsignal errors to it.

Every API error answers::

    {"error": {"status": 403, "code": "forbidden", "message": "...", "hint": null}}

with optional extra members inside ``error`` (e.g. ``uploadId`` and ``findings`` for a
rejected upload). A 401 carries ``WWW-Authenticate: Bearer``. OAuth endpoints answer in
RFC 6749 form instead (see :mod:`hrsignal.server.oauth`).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from hrsignal.errors import AuthError, ForbiddenError, HrsignalError


class ApiError(HrsignalError):
    """An error with a chosen HTTP status and extra members for the error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str,
        extra: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.http_status = status
        self.code = code
        self.extra = extra or {}


def error_body(status: int, code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    """The JSON error body."""
    return {"error": {"status": status, "code": code, "message": message, "hint": hint}}


def error_response(exc: HrsignalError) -> JSONResponse:
    """Convert an hrsignal error into the API's JSON error answer."""
    body = error_body(exc.http_status, exc.code, exc.message, exc.hint)
    if isinstance(exc, ApiError):
        body["error"].update(exc.extra)
    headers: dict[str, str] = {}
    if isinstance(exc, AuthError) and not isinstance(exc, ForbiddenError):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return JSONResponse(body, status_code=exc.http_status, headers=headers)
