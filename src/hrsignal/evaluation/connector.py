"""Bring the derived HR file through the connector path, as an HR system's upload would come.

1. The shared validator (``hrsignal.scenarios``) checks and normalises the file, with ``now`` set
   to the dataset's last day and a date window wide enough for the whole dataset (the default
   window, six months back, would reject 2010 leavers for being old).
2. The connector service's ingestion (``hrsignal.server.ingest.ingest_file``) saves it into a
   fresh SQLite store through a connector registered for the resignations scenario, and the
   triggers are read back with ``hrsignal.store.current_hr_records``: the risk engine sees what
   the service would have saved. Where the service is not installed, the validated canonical
   table is used directly, and the run says so.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from hrsignal.errors import DataRejectedError
from hrsignal.evaluation.notes import Notes
from hrsignal.risk.hr import HR_COLUMNS
from hrsignal.scenarios import DateWindow, ValidationOptions, open_validation

_TS = pa.timestamp("us", tz="UTC")


def validated_resignations(path: Path, *, now: dt.datetime, past_days: int) -> pa.Table:
    """The valid records of ``path`` as the validator normalises them (contract columns)."""
    options = ValidationOptions(
        now=now, date_window=DateWindow(past_days=past_days, future_days=365)
    )
    tables: list[pa.Table] = []
    with open_validation(path, scenario="resignations", options=options) as run:
        for batch in run:
            tables.append(batch.canonical.filter(pa.array(batch.valid)))
        report = run.report
    if report.errors:
        first = report.errors[0]
        raise DataRejectedError(
            f"{path}: the derived HR file has {len(report.errors)} error(s), "
            f"first: {first.message}",
            hint="this is a bug of the harness: the derived file should always be valid",
        )
    return contract(pa.concat_tables(tables) if tables else pa.table({}))


def contract(table: pa.Table) -> pa.Table:
    """The columns of docs/CONTRACTS.md ("store -> risk"), nulls where absent."""
    n = table.num_rows
    cols: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in HR_COLUMNS:
        kind = _TS if name.endswith("Date") else pa.string()
        if name in table.column_names:
            cols[name] = pc.cast(table.column(name), kind)
        else:
            cols[name] = pa.nulls(n, kind)
    return pa.table(cols)


def ingest(
    path: Path, work: Path, *, now: dt.datetime, past_days: int, notes: Notes
) -> tuple[pa.Table, str]:
    """Validate ``path``, save it through the connector service if present, read it back.

    Returns the HR table the engine gets and a phrase naming the route it took.
    """
    validated = validated_resignations(path, now=now, past_days=past_days)
    try:
        from hrsignal.server.context import AppState
        from hrsignal.server.ingest import ingest_file
        from hrsignal.server.settings import Settings
        from hrsignal.server.tokens import TokenIssuer
        from hrsignal.store.connectors import create_connector
        from hrsignal.store.engine import open_store
        from hrsignal.store.identity import create_app
        from hrsignal.store.records import current_hr_records
    except ImportError as exc:  # the connector service is an optional part of a build
        notes.add(
            "connector_service_absent",
            "hrsignal.server",
            f"not importable ({exc.name}); the validated canonical table feeds the engine",
        )
        return validated, "HR CSV -> shared validator (connector service not installed)"
    from hrsignal.scenarios import propose_mapping

    work.mkdir(parents=True, exist_ok=True)
    db = work / f"connector-{path.stem}.db"
    db.unlink(missing_ok=True)
    url = f"sqlite:///{db}"
    # The service checks dates against the real clock: relax its window for a 2010 dataset.
    settings = Settings(db_url=url, date_window=None)
    store = open_store(url)
    try:
        secret = create_app(store, "cert-evaluation", tenant_id="cert-eval", expires_in_days=1)
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        connector = create_connector(
            store,
            name="cert-evaluation",
            app_id=secret.app.app_id,
            scenarios=["resignations"],
            mapping=propose_mapping(header, "resignations"),
        )
        state = AppState(store=store, settings=settings, issuer=TokenIssuer(store, settings))
        ingest_file(state, connector, secret.app.app_id, path, path.name)
    finally:
        store.dispose()
    saved = contract(current_hr_records(url))
    if saved.num_rows != validated.num_rows:
        raise DataRejectedError(
            f"{path}: the connector saved {saved.num_rows} of {validated.num_rows} records",
            hint="run 'hrsignal validate' on the derived file to see why",
        )
    return saved, (
        "HR CSV -> shared validator -> connector service ingestion (SQLite) -> current_hr_records"
    )
