"""Connectors: a job id bound to one app, its HR scenarios and its file mapping."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from hrsignal.errors import NotFoundError, UsageError
from hrsignal.scenarios import FileMapping, mapping_from_dict
from hrsignal.store.engine import Store
from hrsignal.store.identity import as_utc, get_app, utcnow
from hrsignal.store.schema import connectors, hr_current, hr_versions, upload_rejects, uploads


@dataclass(frozen=True)
class Connector:
    """A connector, as Purview's flyout shows it."""

    job_id: str
    app_id: str
    name: str
    scenarios: list[str]
    mapping: dict[str, Any]
    enabled: bool
    created_at: dt.datetime

    def file_mapping(self) -> FileMapping:
        """The stored mapping as the validator's :class:`FileMapping`."""
        return mapping_from_dict(self.mapping, source=f"connector {self.job_id}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape used by the CLI and the admin API."""
        return {
            "job_id": self.job_id,
            "app_id": self.app_id,
            "name": self.name,
            "scenarios": self.scenarios,
            "mapping": self.mapping,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat(),
        }


def _connector(row: Any) -> Connector:
    r = row._mapping
    return Connector(
        job_id=r["job_id"],
        app_id=r["app_id"],
        name=r["name"],
        scenarios=json.loads(r["scenarios"]),
        mapping=json.loads(r["mapping"]),
        enabled=bool(r["enabled"]),
        created_at=as_utc(r["created_at"]),
    )


def create_connector(
    store: Store, *, name: str, app_id: str, scenarios: list[str], mapping: FileMapping
) -> Connector:
    """Create a connector for ``app_id`` with ``mapping``; returns it with its new job id."""
    if not name.strip():
        raise UsageError("the connector name must not be empty")
    if not scenarios:
        raise UsageError("give at least one --scenario")
    get_app(store, app_id)
    doc = mapping.to_dict()
    # Round-trip now so a bad mapping is refused at creation, not at the first upload.
    mapping_from_dict(doc, source="mapping")
    connector = Connector(
        job_id=str(uuid.uuid4()),
        app_id=app_id,
        name=name.strip(),
        scenarios=list(scenarios),
        mapping=doc,
        enabled=True,
        created_at=utcnow(),
    )
    with store.write() as conn:
        conn.execute(
            insert(connectors).values(
                job_id=connector.job_id,
                app_id=app_id,
                name=connector.name,
                scenarios=json.dumps(connector.scenarios),
                mapping=json.dumps(doc),
                enabled=True,
                created_at=connector.created_at,
            )
        )
    return connector


def find_connector(store: Store, job_id: str) -> Connector | None:
    """The connector ``job_id`` (compared case-insensitively, GUIDs are), or None."""
    with store.read() as conn:
        row = conn.execute(
            select(connectors).where(connectors.c.job_id == job_id.strip().lower())
        ).first()
    return None if row is None else _connector(row)


def get_connector(store: Store, job_id: str) -> Connector:
    """The connector ``job_id``; :class:`NotFoundError` otherwise."""
    found = find_connector(store, job_id)
    if found is None:
        raise NotFoundError(
            f"no connector with job id {job_id!r}; list them with `hrsignal connectors list`"
        )
    return found


def list_connectors(store: Store) -> list[Connector]:
    """Every connector, oldest first."""
    with store.read() as conn:
        rows = conn.execute(select(connectors).order_by(connectors.c.created_at)).all()
    return [_connector(r) for r in rows]


def set_enabled(store: Store, job_id: str, enabled: bool) -> Connector:
    """Enable or disable a connector (a disabled job answers 404 to uploads)."""
    job_id = get_connector(store, job_id).job_id  # the stored spelling (ids match any case)
    with store.write() as conn:
        conn.execute(
            update(connectors).where(connectors.c.job_id == job_id).values(enabled=enabled)
        )
    return get_connector(store, job_id)


def delete_connector(store: Store, job_id: str) -> None:
    """Delete a connector with its records and its upload log."""
    job_id = get_connector(store, job_id).job_id  # the stored spelling (ids match any case)
    with store.write() as conn:
        ids = select(uploads.c.upload_id).where(uploads.c.job_id == job_id)
        conn.execute(delete(upload_rejects).where(upload_rejects.c.upload_id.in_(ids)))
        conn.execute(delete(uploads).where(uploads.c.job_id == job_id))
        conn.execute(delete(hr_current).where(hr_current.c.job_id == job_id))
        conn.execute(delete(hr_versions).where(hr_versions.c.job_id == job_id))
        conn.execute(delete(connectors).where(connectors.c.job_id == job_id))
