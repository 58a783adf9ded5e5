"""Run the Alembic migrations shipped inside the package (``hrsignal/store/migrations``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from hrsignal.store.engine import Store

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(store: Store) -> Config:
    """An Alembic configuration pointing at the packaged migrations and ``store``'s URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' is interpolation syntax in Alembic's config parser: escape it in passwords.
    config.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    return config


def upgrade(store: Store, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent: a migrated database is left as is)."""
    config = alembic_config(store)
    with store.engine.connect() as conn:
        if not store.is_sqlite:
            # One migrator at a time when several servers start against one database.
            conn.exec_driver_sql("SELECT pg_advisory_lock(727100)")
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()
        finally:
            if not store.is_sqlite:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(727100)")
                conn.commit()
