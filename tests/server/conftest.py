"""Fixtures for the server tests: a store with an app and connector, in-process and loopback
servers (the loopback one really listens, with TLS from a test CA when asked)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from hrsignal.server import create_app
from hrsignal.store import open_store
from hrsignal.store.engine import Store
from tests.fakes.ca import TestCA, make_ca
from tests.server import helpers


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the loop uvicorn uses)."""
    return "asyncio"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open, migrated store (SQLite and PostgreSQL)."""
    opened = open_store(db_url)
    yield opened
    opened.dispose()


@pytest.fixture
def tenant(store: Store) -> helpers.Tenant:
    """An app with a secret and a resignations connector."""
    return helpers.make_tenant(store)


@pytest.fixture
def app(store: Store) -> FastAPI:
    """The service, built on ``store``."""
    return create_app(helpers.settings(store.url), store=store)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process (ASGI transport)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@dataclass
class Running:
    """A server listening on loopback."""

    base_url: str
    ca: TestCA | None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """A test CA and a server certificate for 127.0.0.1."""
    return make_ca(tmp_path_factory.mktemp("tls"))


def run_server(app: FastAPI, tls: TestCA | None) -> Iterator[Running]:
    """Serve ``app`` with uvicorn in a thread until the generator is closed."""
    port = _free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ssl_certfile=str(tls.cert_path) if tls else None,
        ssl_keyfile=str(tls.key_path) if tls else None,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    scheme = "https" if tls else "http"
    try:
        yield Running(f"{scheme}://127.0.0.1:{port}", tls)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def loopback(app: FastAPI) -> Iterator[Running]:
    """The app served over plain HTTP on 127.0.0.1."""
    yield from run_server(app, None)


@pytest.fixture
def loopback_tls(app: FastAPI, tls_files: TestCA) -> Iterator[Running]:
    """The app served over HTTPS on 127.0.0.1 with a certificate from the test CA."""
    yield from run_server(app, tls_files)


@pytest.fixture
def ca_path(tls_files: TestCA) -> Path:
    """The test CA's certificate file (what clients trust)."""
    return tls_files.ca_path
