"""The dashboard: server-rendered pages for admins, analysts and investigators.

:func:`mount` adds the pages (``/``, ``/signin``, ``/alerts``, ``/people``, ``/connectors``,
``/apps``, ``/uploads``, ``/settings``) and the vendored static files (``/static``) to the
connector service's FastAPI application. Pages use a cookie session
(:mod:`hrsignal.web.auth`); the JSON API under ``/api`` and the token endpoints keep their
bearer-token authentication, untouched. Templates are Jinja2 with autoescaping, charts are
inline SVG drawn on the server, and no page needs a script or anything from the network.
See docs/dashboard.md.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")


def mount(app: FastAPI) -> None:
    """Add the dashboard's routes and static files to ``app``."""
    from hrsignal.web import pages_admin, pages_risk, pages_settings

    app.include_router(pages_risk.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_settings.router)
    app.mount("/static", StaticFiles(directory=STATIC, packages=None), name="static")
