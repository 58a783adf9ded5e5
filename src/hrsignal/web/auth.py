"""Who is looking: the session cookie, roles, CSRF tokens and sign-in throttling.

* The session cookie (``hrsignal_session``) holds a random token; the session lives in the
  database (:mod:`hrsignal.store.accounts`), so signing out revokes it server-side. The cookie
  is ``HttpOnly``, ``SameSite=Lax`` (a link from an e-mail still opens a page; cross-site
  POSTs carry no cookie) and ``Secure`` whenever the dashboard is served over https.
* Every POST form carries the session's CSRF token (synchroniser pattern), compared in
  constant time; the sign-in form, which has no session yet, uses a double-submit cookie. A
  cross-origin ``Origin`` header is refused as well.
* Roles: :data:`PAGES_ADMIN` for connectors and apps, :data:`PAGES_RISK` for people and alerts,
  reveal only for investigators. A role that may not see a page gets 403, never its data.
* Sign-in throttling: per account in the store (lock after repeated failures), and per client
  address here (in memory) against password spraying across many names.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio
from fastapi import Depends, Request
from starlette.responses import Response

from hrsignal.errors import ForbiddenError, HrsignalError, PayloadTooLargeError, UsageError
from hrsignal.server.context import state
from hrsignal.store import accounts

SESSION_COOKIE = "hrsignal_session"
SIGNIN_CSRF_COOKIE = "hrsignal_signin_csrf"
PAGES_ADMIN = ("admin",)
PAGES_RISK = ("analyst", "investigator")
REVEAL = ("investigator",)


class SignInRequiredError(HrsignalError):
    """No valid session: the page answers with a redirect to the sign-in page."""

    http_status = 401
    code = "sign_in_required"


class CsrfError(ForbiddenError):
    """A POST without the right CSRF token, or from another origin."""

    code = "csrf_failed"


@dataclass(frozen=True)
class Viewer:
    """The signed-in account looking at a page, with its session's CSRF token."""

    name: str
    role: str
    csrf_token: str

    @property
    def may_reveal(self) -> bool:
        """True for investigators."""
        return self.role in REVEAL

    @property
    def is_admin(self) -> bool:
        """True for admins."""
        return self.role in PAGES_ADMIN

    @property
    def sees_risk(self) -> bool:
        """True for analysts and investigators."""
        return self.role in PAGES_RISK


class AddressThrottle:
    """Failed sign-ins per client address in a sliding window (in memory, per process)."""

    def __init__(self, *, limit: int = 30, window_s: float = 900.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds to wait before this address may try again (0: it may now)."""
        now = time.monotonic()
        with self._lock:
            times = self._failures.get(address)
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                self._failures.pop(address, None)
                return 0
            if len(times) < self.limit:
                return 0
            return int(times[0] + self.window_s - now) + 1

    def failed(self, address: str) -> None:
        """Count a failed sign-in from ``address``."""
        with self._lock:
            if len(self._failures) > 100_000:  # bounded memory under a flood of addresses
                self._failures.clear()
            self._failures.setdefault(address, deque()).append(time.monotonic())


def is_https(request: Request) -> bool:
    """True when the dashboard is served over TLS (directly or per the public URL)."""
    public = state(request).settings.public_url
    if public:
        return public.lower().startswith("https://")
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    """Set a cookie with the dashboard's flags: HttpOnly, SameSite=Lax, Secure over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


async def viewer(request: Request) -> Viewer:
    """Dependency: the signed-in viewer, else :class:`SignInRequiredError`."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        raise SignInRequiredError("sign in to see this page")
    session = await anyio.to_thread.run_sync(
        lambda: accounts.find_session(state(request).store, token)
    )
    if session is None:
        raise SignInRequiredError("your session has ended; sign in again")
    person = Viewer(session.account.name, session.account.role, session.csrf_token)
    request.state.viewer = person  # for the navigation of an error page
    return person


#: A page parameter that is the signed-in viewer.
SignedIn = Annotated[Viewer, Depends(viewer)]


def require_role(person: Viewer, roles: tuple[str, ...], what: str) -> None:
    """Refuse (403) a viewer whose role is not among ``roles``."""
    if person.role not in roles:
        raise ForbiddenError(
            f"{what} is for {' and '.join(r + 's' for r in roles)}; "
            f"you are signed in as {person.name} ({person.role})"
        )


def check_origin(request: Request) -> None:
    """Refuse a POST whose ``Origin`` (when the browser sends one) is another site."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        if origin == "null":
            raise CsrfError("form posted from an opaque origin")
        return
    host = request.headers.get("host", "")
    public = state(request).settings.public_url
    allowed = {host.lower()}
    if public:
        allowed.add(urlsplit(public).netloc.lower())
    if urlsplit(origin).netloc.lower() not in allowed:
        raise CsrfError("form posted from another site; reload the page and try again")


def check_csrf(request: Request, person: Viewer, submitted: object) -> None:
    """Refuse a POST whose form token is not the session's (constant-time comparison)."""
    check_origin(request)
    if not isinstance(submitted, str) or not hmac.compare_digest(
        submitted.encode(), person.csrf_token.encode()
    ):
        raise CsrfError("the form's security token is missing or stale; reload the page")


#: Largest body of a plain form (sign-in, triage, settings): far above any real one.
MAX_FORM_BYTES = 64 * 1024


async def read_form(
    request: Request, *, limit: int = MAX_FORM_BYTES, files: int = 0
) -> dict[str, Any]:
    """The posted form's fields (a field given twice becomes a list), after a size check:
    the body must declare its length (browsers do) and stay under ``limit`` (else 413), so a
    huge or endless body is refused before it is read into memory."""
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise UsageError("a form must be sent with a Content-Length")
    if int(length) > limit:
        raise PayloadTooLargeError(f"the form is over {limit // 1024} KiB")
    form = await request.form(max_files=files, max_fields=500)
    out: dict[str, Any] = {}
    for key in form:
        values = form.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def new_signin_token() -> str:
    """A fresh double-submit token for the sign-in form."""
    return secrets.token_urlsafe(24)


def check_signin_csrf(request: Request, submitted: object) -> None:
    """The sign-in form's token must equal its cookie's (login CSRF protection)."""
    check_origin(request)
    cookie = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if (
        not cookie
        or not isinstance(submitted, str)
        or not hmac.compare_digest(submitted.encode(), cookie.encode())
    ):
        raise CsrfError("the sign-in form expired; reload the page and try again")
