"""Alembic environment: runs on the connection :func:`hrsignal.store.migrate.upgrade` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from hrsignal.store.schema import metadata

config = context.config


def run() -> None:
    """Run the migrations online, on the caller's connection when there is one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
