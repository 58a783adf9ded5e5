"""Rendering pages: the Jinja2 environment, security headers, and errors as HTML pages.

Dashboard routes use :class:`PageRoute`, which turns an :class:`~hrsignal.errors.HrsignalError`
into an HTML page with the error's status (403 for a role that may not see a page, 404 for an
unknown id, 400 for a bad form), or into a redirect to the sign-in page when there is no
session; the JSON API keeps its own error shape. A traceback is never shown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hrsignal import __version__
from hrsignal.errors import HrsignalError
from hrsignal.web.auth import SignInRequiredError, Viewer

log = logging.getLogger("hrsignal.web")

#: Sent with every page: only our own scripts, styles and forms; no framing; no caching.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=PackageLoader("hrsignal.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals["version"] = __version__


def page(
    request: Request,
    template: str,
    viewer: Viewer | None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` for ``viewer`` with the security headers."""
    html = _env.get_template(template).render(
        request=request, viewer=viewer, path=request.url.path, **context
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def redirect(url: str) -> RedirectResponse:
    """A 303 See Other (after a POST, the browser GETs ``url``)."""
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def error_page(request: Request, exc: HrsignalError) -> Response:
    """An error as an HTML page (or a redirect to sign in)."""
    if isinstance(exc, SignInRequiredError):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/signin?next={quote(target, safe='')}")
    viewer = getattr(request.state, "viewer", None)
    return page(
        request,
        "error.html",
        viewer,
        status=exc.http_status,
        status_code=exc.http_status,
        message=exc.message,
        hint=exc.hint,
    )


class PageRoute(APIRoute):
    """A route whose errors are HTML pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler to convert errors."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except HrsignalError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {}
                where = ".".join(str(p) for p in first.get("loc", ()))
                message = f"invalid request: {where}: {first.get('msg', 'bad value')}"
                return error_page(request, _BadRequest(message))

        return handle


class _BadRequest(HrsignalError):
    http_status = 400
    code = "bad_request"
