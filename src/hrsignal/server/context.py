"""What every request handler reaches: the store, the settings, the token issuer, admin auth."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from fastapi import Request

from hrsignal.server.settings import Settings
from hrsignal.server.throttle import TokenThrottle
from hrsignal.server.tokens import TokenIssuer
from hrsignal.store.engine import Store

#: An admin authenticator: returns who the caller is (for the log), or None to pass.
AdminAuthenticator = Callable[[Request], Awaitable[str | None]]


@dataclass
class AppState:
    """The service's shared state, stored on ``app.state.hrsignal``."""

    store: Store
    settings: Settings
    issuer: TokenIssuer
    #: Tried in order; the dashboard appends its cookie-session authenticator.
    admin_authenticators: list[AdminAuthenticator] = field(default_factory=list)
    #: Failed token requests per caller (brute-force throttling of the token endpoint).
    token_throttle: TokenThrottle = field(default_factory=TokenThrottle)


def state(request: Request) -> AppState:
    """The :class:`AppState` of the application serving ``request``."""
    return cast(AppState, request.app.state.hrsignal)


def base_url(request: Request) -> str:
    """The service's public base URL: the configured one, else the request's own."""
    configured = state(request).settings.public_url
    if configured:
        return configured.rstrip("/")
    return str(request.base_url).rstrip("/")
