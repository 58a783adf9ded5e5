"""The database schema, as SQLAlchemy Core tables (the Alembic migrations create the same).

Two families of tables:

* identity and configuration: ``apps`` (Entra-like applications), ``app_secrets`` (argon2
  hashes only), ``app_certificates``, ``signing_keys`` (the token issuer's key pair),
  ``used_assertions`` (client-assertion ``jti`` replay protection), ``admin_tokens``,
  ``connectors`` (job id -> app, scenarios, file mapping), ``accounts`` and ``web_sessions``
  (dashboard sign-in, see :mod:`hrsignal.store.accounts`);
* HR data and its log: ``uploads`` and ``upload_rejects`` (the connector log),
  ``hr_current`` (the latest version of each record, one row per identity) and
  ``hr_versions`` (every superseded version, append-only: a record's full history is its
  ``hr_versions`` rows plus its ``hr_current`` row).

HR datetimes are stored as integer microseconds since the Unix epoch (UTC): the same type on
SQLite and PostgreSQL, compact, sortable, and converted back to ``timestamp[us, tz=UTC]`` in
one vectorised cast when read. A record's identity is (job, scenario, casefolded UPN, primary
date in microseconds, 0 when the scenario has none).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: Canonical HR fields stored as their own columns: name in the file -> column name.
TEXT_FIELDS = {
    "EmailAddress": "email_address",
    "OldLevel": "old_level",
    "NewLevel": "new_level",
    "Rating": "rating",
    "Remarks": "remarks",
}
DATE_FIELDS = {
    "ResignationDate": "resignation_date",
    "LastWorkingDate": "last_working_date",
    "EffectiveDate": "effective_date",
}

apps = Table(
    "apps",
    metadata,
    Column("app_id", String(36), primary_key=True),
    Column("tenant_id", String(36), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

app_secrets = Table(
    "app_secrets",
    metadata,
    Column("secret_id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.app_id", ondelete="CASCADE"), index=True),
    Column("hint", String(8), nullable=False),  # first characters, as Entra shows them
    Column("hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

app_certificates = Table(
    "app_certificates",
    metadata,
    Column("cert_id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.app_id", ondelete="CASCADE"), index=True),
    Column("x5t", String(64), nullable=False, index=True),  # base64url SHA-1 thumbprint
    Column("x5t_s256", String(64), nullable=False, index=True),
    Column("pem", Text, nullable=False),
    Column("not_after", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("active", Boolean, nullable=False),
)

used_assertions = Table(
    "used_assertions",
    metadata,
    Column("jti", String(200), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("token_id", String(36), primary_key=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

connectors = Table(
    "connectors",
    metadata,
    Column("job_id", String(36), primary_key=True),
    Column("app_id", String(36), ForeignKey("apps.app_id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("scenarios", Text, nullable=False),  # JSON list
    Column("mapping", Text, nullable=False),  # JSON FileMapping.to_dict()
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

uploads = Table(
    "uploads",
    metadata,
    Column("upload_id", String(36), primary_key=True),
    Column("job_id", String(36), nullable=False, index=True),
    Column("app_id", String(36), nullable=False),
    Column("file_name", String(400), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # saved | rejected
    Column("records_received", Integer, nullable=False),
    Column("records_saved", Integer, nullable=False),
    Column("records_unchanged", Integer, nullable=False),
    Column("records_rejected", Integer, nullable=False),
    Column("records_duplicate", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("warning_count", Integer, nullable=False),
    Column("message", Text, nullable=True),
)

upload_rejects = Table(
    "upload_rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "upload_id",
        String(36),
        ForeignKey("uploads.upload_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("record", Integer, nullable=True),
    Column("line", Integer, nullable=True),
    Column("column_name", String(400), nullable=True),
    Column("severity", String(8), nullable=False),
    Column("code", String(40), nullable=False),
    Column("message", Text, nullable=False),
)


# Dashboard sign-in (hrsignal.store.accounts): local accounts with a role, argon2id password
# hashes and a consecutive-failure counter for throttling; server-side sessions keyed by the
# SHA-256 of the cookie's random token (a stolen database holds no usable cookie).
accounts = Table(
    "accounts",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("failed_signins", Integer, nullable=False),
    Column("locked_until", DateTime(timezone=True), nullable=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column(
        "account",
        String(64),
        ForeignKey("accounts.name", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)


def _record_columns() -> list[Column[object]]:
    cols: list[Column[object]] = [
        Column("job_id", String(36), nullable=False),
        Column("scenario", String(40), nullable=False),
        Column("upn", String(256), nullable=False),
        Column("pdate", BigInteger, nullable=False),
        Column("content_hash", BigInteger, nullable=False),
        Column("version", Integer, nullable=False),
        Column("upload_id", String(36), nullable=False),
        Column("saved_at", BigInteger, nullable=False),
    ]
    cols += [Column(c, Text, nullable=True) for c in TEXT_FIELDS.values()]
    cols += [Column(c, BigInteger, nullable=True) for c in DATE_FIELDS.values()]
    cols.append(Column("profile", Text, nullable=True))  # JSON of employee-profile fields
    return cols


hr_current = Table(
    "hr_current",
    metadata,
    *_record_columns(),
    Column("refreshed_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("job_id", "scenario", "upn", "pdate"),
    # One B-tree for rows and key on SQLite: the upsert per saved record touches one tree.
    sqlite_with_rowid=False,
)

hr_versions = Table(
    "hr_versions",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    *_record_columns(),
)
# No secondary index on hr_versions: it is append-only history, written at ingestion speed
# and read only by rare scans (purge, connector deletion).

#: The data columns copied from staging into both record tables.
DATA_COLUMNS = [
    "job_id",
    "scenario",
    "upn",
    "pdate",
    "content_hash",
    *TEXT_FIELDS.values(),
    *DATE_FIELDS.values(),
    "profile",
]
