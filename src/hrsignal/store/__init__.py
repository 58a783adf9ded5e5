"""Persistence for the connector service: SQLite (default, WAL) or PostgreSQL, with Alembic.

Public entry points: :func:`open_store` (a :class:`Store`), :func:`resolve_db_url`, and
:func:`current_hr_records` (the risk engine's view of HR triggers, see docs/CONTRACTS.md).
The identity, connector, upload-log and record functions live in the submodules.
"""

from hrsignal.store.engine import DB_ENV, Store, default_db_url, open_store, resolve_db_url
from hrsignal.store.records import current_hr_records

__all__ = [
    "DB_ENV",
    "Store",
    "current_hr_records",
    "default_db_url",
    "open_store",
    "resolve_db_url",
]
