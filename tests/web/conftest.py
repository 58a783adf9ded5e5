"""Fixtures for the dashboard tests: the bundled example organisation's risk store (built once
per session through the real CLI, copied per test that writes), a store with one account per
role, and an in-process client that signs in through the real sign-in form."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from hrsignal.server import create_app
from hrsignal.store import accounts, open_store
from hrsignal.store.engine import Store
from tests.server import helpers

EXAMPLES = Path(__file__).parents[2] / "examples" / "activity"
PASSWORD = "correct horse battery"
ROLES = ("admin", "analyst", "investigator")
THIEF = "diego.siciliani@contoso.com"


def _risk(data_dir: Path, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hrsignal.cli", "risk", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def example_risk_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example organisation imported and its policies run: one high alert (the thief)."""
    data = tmp_path_factory.mktemp("web-risk") / "risk"
    _risk(data, "import", "purview-audit", str(EXAMPLES / "purview-audit.csv.gz"))
    _risk(
        data,
        "import",
        "generic",
        str(EXAMPLES / "proxy.jsonl.gz"),
        "--mapping",
        str(EXAMPLES / "proxy-mapping.yaml"),
    )
    _risk(
        data,
        "run",
        "--hr",
        str(EXAMPLES / "hr-resignations.csv"),
        "--hr",
        str(EXAMPLES / "employee-profile.csv"),
    )
    return data


@pytest.fixture
def risk_dir(example_risk_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the example risk store (triage and reveals write to it)."""
    target = tmp_path / "risk"
    shutil.copytree(example_risk_dir, target)
    return target


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio."""
    return "asyncio"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store with one account per role (``admin``, ``analyst``, ...)."""
    opened = open_store(f"sqlite:///{tmp_path}/hrsignal.db")
    for role in ROLES:
        accounts.create_account(opened, name=role, role=role, password=PASSWORD)
    yield opened
    opened.dispose()


@pytest.fixture
def app(store: Store, risk_dir: Path) -> FastAPI:
    """The service with the dashboard, reading the example risk store."""
    return create_app(helpers.settings(store.url, risk_dir=str(risk_dir)), store=store)


@dataclass
class Browserless:
    """An httpx client of the app plus the CSRF token of the page it last read."""

    client: httpx.AsyncClient

    async def csrf(self, path: str) -> str:
        """GET ``path`` and return the CSRF token of its first form."""
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        return csrf_of(page.text)


def csrf_of(html: str) -> str:
    """The value of the first ``csrf_token`` hidden field."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    """Sign in through the form (its double-submit token first)."""
    form = await client.get("/signin")
    return await client.post(
        "/signin",
        data={"name": name, "password": password, "csrf_token": csrf_of(form.text)},
    )


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client without a session."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _signed(app: FastAPI, role: str) -> AsyncIterator[Browserless]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        answer = await sign_in(c, role)
        assert answer.status_code == 303, answer.text
        yield Browserless(c)


@pytest.fixture
async def as_admin(app: FastAPI) -> AsyncIterator[Browserless]:
    """A client signed in as the admin."""
    async for b in _signed(app, "admin"):
        yield b


@pytest.fixture
async def as_analyst(app: FastAPI) -> AsyncIterator[Browserless]:
    """A client signed in as the analyst."""
    async for b in _signed(app, "analyst"):
        yield b


@pytest.fixture
async def as_investigator(app: FastAPI) -> AsyncIterator[Browserless]:
    """A client signed in as the investigator."""
    async for b in _signed(app, "investigator"):
        yield b
