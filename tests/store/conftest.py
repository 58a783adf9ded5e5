"""Store fixtures: an open store on SQLite and on PostgreSQL (``db_url`` from tests/conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hrsignal.store import open_store
from hrsignal.store.engine import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store."""
    opened = open_store(db_url)
    yield opened
    opened.dispose()
