"""The FastAPI application: routes, error conversion, size limit, access log, retention."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hrsignal import __version__
from hrsignal.errors import HrsignalError
from hrsignal.server import admin, ingest, oauth, risk_api
from hrsignal.server.context import AppState
from hrsignal.server.problems import error_body, error_response
from hrsignal.server.settings import Settings
from hrsignal.server.tokens import TokenIssuer
from hrsignal.store.engine import Store, open_store
from hrsignal.store.records import purge
from hrsignal.web import mount as mount_dashboard

access_log = logging.getLogger("hrsignal.access")
log = logging.getLogger("hrsignal.server")


class AccessLog:
    """One JSON line per request: method, path, job id, status, bytes, duration.

    Never the query string beyond ``jobid``, never headers or bodies: no tokens, no secrets,
    no HR values reach the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            job = next(
                (
                    p.partition("=")[2]
                    for p in query.split("&")
                    if p.partition("=")[0].lower() == "jobid"
                ),
                None,
            )
            client = scope.get("client")
            access_log.info(
                json.dumps(
                    {
                        "method": scope["method"],
                        "path": scope["path"],
                        "job_id": job,
                        "status": status,
                        "bytes_sent": sent,
                        "ms": round((time.perf_counter() - start) * 1000, 1),
                        "client": client[0] if client else None,
                    }
                )
            )


async def _retention_loop(st: AppState) -> None:
    settings = st.settings
    while True:
        try:
            counts = await anyio.to_thread.run_sync(
                lambda: purge(
                    st.store,
                    older_than_days=settings.retention_days,
                    profile_days=settings.profile_retention_days,
                )
            )
            log.info("retention: %s", counts)
        except Exception:  # the service keeps running; the next round tries again
            log.exception("retention failed")
        await anyio.sleep(settings.retention_interval_s)


def create_app(settings: Settings, *, store: Store | None = None) -> FastAPI:
    """Build the connector service for ``settings`` (the store is opened and migrated here)."""
    store = store or open_store(settings.db_url)
    st = AppState(store=store, settings=settings, issuer=TokenIssuer(store, settings))
    st.admin_authenticators.append(admin.admin_token_auth)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_retention_loop, st)
            yield
            tg.cancel_scope.cancel()

    app = FastAPI(
        title="hrsignal connector service",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.hrsignal = st

    @app.exception_handler(HrsignalError)
    async def _hrsignal_error(_request: Request, exc: HrsignalError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(exc.status_code, code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"invalid request: {where}: {first.get('msg', 'bad value')}"
        return JSONResponse(error_body(400, "bad_request", message), status_code=400)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body(500, "internal_error", "internal error; see the server log"),
            status_code=500,
        )

    @app.get("/healthz")
    async def health() -> JSONResponse:
        """Liveness and database reachability."""

        def ping() -> None:
            with store.read() as conn:
                conn.exec_driver_sql("SELECT 1")

        try:
            await anyio.to_thread.run_sync(ping)
        except HrsignalError as exc:
            return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "database": "ok", "version": __version__})

    app.include_router(ingest.router)
    app.include_router(admin.router)
    app.include_router(oauth.router)
    app.include_router(risk_api.router)
    mount_dashboard(app)
    if settings.access_log:
        app.add_middleware(AccessLog)
    return app
