"""The store on SQLite and PostgreSQL: migrations, identity, idempotent saving, history,
the risk engine's view, retention."""

from __future__ import annotations

import datetime as dt
import threading

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import inspect, text

from hrsignal.errors import ConflictError, NotFoundError, UsageError
from hrsignal.scenarios import propose_mapping
from hrsignal.store import connectors as conns
from hrsignal.store import current_hr_records, identity, open_store
from hrsignal.store.engine import Store, normalize_url
from hrsignal.store.records import collapse, purge, read_current, save_records, stage_table, to_us
from hrsignal.store.uploads import UploadEntry, list_uploads, write_upload

UTC = pa.timestamp("us", tz="UTC")
NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


def _job(store: Store, scenario: str = "resignations", header: list[str] | None = None) -> str:
    app = identity.create_app(
        store, "a", tenant_id=identity.default_tenant(store), expires_in_days=5
    )
    header = header or ["EmailAddress", "ResignationDate", "LastWorkingDate"]
    return conns.create_connector(
        store,
        name="c",
        app_id=app.app.app_id,
        scenarios=[scenario],
        mapping=propose_mapping(header, scenario),
    ).job_id


def _resignations(emails: list[str], last_days: list[int], resigned_days: int = 20) -> pa.Table:
    last = [NOW - dt.timedelta(days=d) for d in last_days]
    return pa.table(
        {
            "scenario": pa.array(["resignations"] * len(emails)),
            "EmailAddress": pa.array(emails),
            "ResignationDate": pa.array([x - dt.timedelta(days=resigned_days) for x in last], UTC),
            "LastWorkingDate": pa.array(last, UTC),
        }
    )


def _save(
    store: Store, job: str, table: pa.Table, upload: str = "u1", when: dt.datetime = NOW
) -> tuple[int, int]:
    rows, dup = collapse([stage_table(job, table, np.ones(table.num_rows, dtype=bool))])
    with store.write() as conn:
        saved = save_records(store, conn, rows, job_id=job, upload_id=upload, now_us=to_us(when))
    return saved, dup


def test_migrations_are_idempotent_and_create_every_table(db_url: str) -> None:
    """Opening twice runs the migrations once; every table exists on both databases."""
    first = open_store(db_url)
    second = open_store(db_url)
    names = set(inspect(second.engine).get_table_names())
    assert {
        "apps",
        "app_secrets",
        "connectors",
        "uploads",
        "upload_rejects",
        "hr_current",
        "hr_versions",
        "signing_keys",
        "used_assertions",
        "admin_tokens",
        "accounts",
        "web_sessions",
    } <= names
    with second.read() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
    first.dispose()
    second.dispose()


def test_secrets_are_hashed_expire_and_rotate(store: Store) -> None:
    """The secret is stored only as an argon2 hash; check_secret tells ok/expired/invalid."""
    new = identity.create_app(store, "hr", tenant_id="t", expires_in_days=1)
    with store.read() as conn:
        stored = conn.execute(text("SELECT hash FROM app_secrets")).scalar()
    assert new.secret not in stored and stored.startswith("$argon2id$")
    assert identity.check_secret(store, new.app.app_id, new.secret) == "ok"
    assert identity.check_secret(store, new.app.app_id, new.secret + "x") == "invalid"
    with store.write() as conn:
        conn.execute(text("UPDATE app_secrets SET expires_at = :t"), {"t": NOW.replace(year=2020)})
    assert identity.check_secret(store, new.app.app_id, new.secret) == "expired"
    second = identity.add_secret(store, new.app.app_id, expires_in_days=3)
    assert identity.check_secret(store, new.app.app_id, second.secret) == "ok"
    with pytest.raises(UsageError):
        identity.add_secret(store, new.app.app_id, expires_in_days=0)


def test_connector_lifecycle_and_app_in_use(store: Store) -> None:
    """Connectors are found case-insensitively, disabled, deleted; an app in use stays."""
    job = _job(store)
    app_id = conns.get_connector(store, job).app_id
    assert conns.find_connector(store, job.upper()) is not None
    # the job id in another case changes the connector too (not only finds it)
    assert conns.set_enabled(store, job.upper(), False).enabled is False
    assert conns.get_connector(store, job).enabled is False
    with pytest.raises(ConflictError):
        identity.delete_app(store, app_id)
    conns.delete_connector(store, job.upper())
    with pytest.raises(NotFoundError):
        conns.get_connector(store, job)
    identity.delete_app(store, app_id)


def test_same_records_again_save_nothing_and_a_change_is_a_version(store: Store) -> None:
    """Identity = (job, scenario, UPN casefolded, LastWorkingDate); same content -> nothing,
    changed content -> version 2 with version 1 kept in the history."""
    job = _job(store)
    table = _resignations(["a@x.com", "b@x.com"], [10, 11])
    assert _save(store, job, table) == (2, 0)
    assert _save(store, job, table, "u2") == (0, 0)
    upper = _resignations(["A@X.COM", "b@x.com"], [10, 11], resigned_days=30)
    assert _save(store, job, upper, "u3") == (2, 0)  # content changed (case, date)
    with store.read() as conn:
        current = conn.execute(
            text("SELECT upn, version, upload_id FROM hr_current ORDER BY upn")
        ).all()
        history = conn.execute(
            text("SELECT upn, version, upload_id FROM hr_versions ORDER BY upn")
        ).all()
    assert [tuple(r) for r in current] == [("a@x.com", 2, "u3"), ("b@x.com", 2, "u3")]
    assert [tuple(r) for r in history] == [("a@x.com", 1, "u1"), ("b@x.com", 1, "u1")]


def test_repeats_inside_one_upload_keep_the_last(store: Store) -> None:
    """Two rows with one identity in one upload: one saved, the last one, one duplicate."""
    job = _job(store)
    table = pa.concat_tables(
        [
            _resignations(["a@x.com"], [10], resigned_days=5),
            _resignations(["c@x.com"], [3]),
            _resignations(["A@x.com"], [10], resigned_days=7),
        ]
    )
    assert _save(store, job, table) == (2, 1)
    current = read_current(store)
    row = next(r for r in current.to_pylist() if r["EmailAddress"].lower() == "a@x.com")
    assert row["EmailAddress"] == "A@x.com"
    assert row["ResignationDate"] == NOW - dt.timedelta(days=17)


def test_concurrent_saves_to_one_job_count_each_record_once(store: Store) -> None:
    """Four threads saving overlapping sets at once: the union is stored, each new record is
    counted saved exactly once."""
    job = _job(store)
    results: list[int] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        emails = [f"u{i}@x.com" for i in range(offset, offset + 2000)]
        days = [i % 30 for i in range(offset, offset + 2000)]
        saved, _ = _save(store, job, _resignations(emails, days), f"w{offset}")
        with lock:
            results.append(saved)

    threads = [threading.Thread(target=worker, args=(o,)) for o in (0, 500, 1000, 1500)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 3500
    assert read_current(store).num_rows == 3500


def test_current_hr_records_matches_the_contract(db_url: str) -> None:
    """current_hr_records(db_url) has the columns and types docs/CONTRACTS.md promises."""
    store = open_store(db_url)
    job = _job(store)
    _save(store, job, _resignations(["a@x.com"], [1]))
    jl = _job(store, "job-level-changes", ["EmailAddress", "EffectiveDate", "OldLevel", "NewLevel"])
    table = pa.table(
        {
            "scenario": ["job-level-changes"],
            "EmailAddress": ["b@x.com"],
            "EffectiveDate": pa.array([NOW], UTC),
            "OldLevel": ["61"],
            "NewLevel": ["60"],
        }
    )
    _save(store, jl, table)
    out = current_hr_records(db_url.replace("postgresql+psycopg://", "postgresql://"))
    assert out.column_names == [
        "scenario",
        "EmailAddress",
        "ResignationDate",
        "LastWorkingDate",
        "EffectiveDate",
        "OldLevel",
        "NewLevel",
        "Rating",
        "Remarks",
        "job_id",
        "saved_at",
    ]
    for name in ("ResignationDate", "LastWorkingDate", "EffectiveDate", "saved_at"):
        assert out.schema.field(name).type == UTC
    rows = {r["scenario"]: r for r in out.to_pylist()}
    assert rows["resignations"]["LastWorkingDate"] == NOW - dt.timedelta(days=1)
    assert rows["job-level-changes"]["NewLevel"] == "60"
    assert rows["job-level-changes"]["job_id"] == jl
    store.dispose()


def test_purge_by_date_and_profile_refresh(store: Store) -> None:
    """purge drops records past DAYS and profiles not refreshed for 30 days; a profile sent
    again (unchanged) is refreshed and survives."""
    job = _job(store)
    _save(store, job, _resignations(["old@x.com", "new@x.com"], [400, 5]))
    header = [
        "EmailAddress",
        "EmployeeFirstName",
        "EmployeeLastName",
        "EmployeeAddressLine1",
        "EmployeeZipCode",
    ]
    pj = _job(store, "employee-profile", header)
    profile = pa.table(
        {
            "scenario": ["employee-profile"] * 2,
            "EmailAddress": ["p@x.com", "q@x.com"],
            "EmployeeFirstName": ["P", "Q"],
            "EmployeeLastName": ["L", "M"],
            "EmployeeAddressLine1": ["1 St", "2 St"],
            "EmployeeZipCode": ["1", "2"],
        }
    )
    _save(store, pj, profile, when=NOW - dt.timedelta(days=40))
    _save(store, pj, profile.slice(0, 1), "again", when=NOW - dt.timedelta(days=1))
    counts = purge(store, older_than_days=183, now=NOW)
    assert (counts.records, counts.profiles) == (1, 1)
    left = sorted(r["EmailAddress"] for r in read_current(store).to_pylist())
    assert left == ["new@x.com", "p@x.com"]


def test_upload_log_round_trip(store: Store) -> None:
    """A log entry is written with its findings and listed newest first."""
    job = _job(store)
    for i, when in enumerate((NOW - dt.timedelta(hours=1), NOW)):
        entry = UploadEntry(f"up{i}", job, "app", "f.csv", when, "saved", 3, 2, 0, 1, 0, 1, 0)
        with store.write() as conn:
            write_upload(conn, entry, [])
    assert [e.upload_id for e in list_uploads(store, job)] == ["up1", "up0"]


def test_database_urls_are_normalised() -> None:
    """postgresql:// and postgres:// use psycopg 3; other schemes are refused clearly."""
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(UsageError, match="unsupported database URL"):
        normalize_url("mysql://u:secret@h/d")
