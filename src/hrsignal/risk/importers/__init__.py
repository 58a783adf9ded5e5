"""Activity importers: one per source, all writing the one event model (see ``events``).

``import_activity(store, source, path, mapping=...)`` dispatches on :data:`SOURCES`.
"""

from __future__ import annotations

from pathlib import Path

from hrsignal.errors import UsageError
from hrsignal.risk.events import ImportReport
from hrsignal.risk.importers.cert import import_cert
from hrsignal.risk.importers.common import Progress
from hrsignal.risk.importers.defender import import_defender
from hrsignal.risk.importers.generic import import_generic, load_activity_mapping
from hrsignal.risk.importers.m365 import import_audit_csv, import_management_api
from hrsignal.risk.store import RiskStore

#: source name -> what it reads.
SOURCES: dict[str, str] = {
    "purview-audit": "Purview audit search export (CSV with an AuditData JSON column)",
    "o365-api": "Office 365 Management Activity API content (JSON array or JSON lines)",
    "defender": "Defender advanced hunting: DeviceFileEvents / DeviceEvents (CSV or JSON)",
    "cert": "CERT insider threat dataset folder (logon, device, file, email, http, LDAP/)",
    "generic": "CSV / JSON lines / JSON / Parquet with --mapping FILE",
}


def import_activity(
    store: RiskStore,
    source: str,
    path: Path,
    *,
    mapping: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``path`` as ``source`` into ``store``; return what was read, stored, rejected."""
    if source not in SOURCES:
        raise UsageError(
            f"unknown source {source!r}; expected one of {', '.join(SOURCES)}",
        )
    if source == "generic":
        if mapping is None:
            raise UsageError(
                "the generic source needs --mapping FILE",
                hint="see docs/risk.md, 'Generic mapping'",
            )
        return import_generic(
            store, path, mapping=load_activity_mapping(mapping), force=force, progress=progress
        )
    if mapping is not None:
        raise UsageError(f"--mapping applies to the generic source only, not {source}")
    if source == "purview-audit":
        return import_audit_csv(store, path, force=force, progress=progress)
    if source == "o365-api":
        return import_management_api(store, path, force=force, progress=progress)
    if source == "defender":
        return import_defender(store, path, force=force, progress=progress)
    return import_cert(store, path, force=force, progress=progress)


__all__ = ["SOURCES", "import_activity"]
