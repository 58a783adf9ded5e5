"""Builders for the server tests: apps, connectors, HR CSVs, and clients' exact requests."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from hrsignal.scenarios import propose_mapping
from hrsignal.server import Settings
from hrsignal.store import connectors, identity
from hrsignal.store.engine import Store

RESOURCE = "https://microsoft.onmicrosoft.com/86dfdabb-5089-4a0c-880a-cfa5a790c5b1"
HEADER = ["EmailAddress", "ResignationDate", "LastWorkingDate"]
#: One fixed "now" per test session, so generated files are identical when regenerated.
NOW = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@dataclass
class Tenant:
    """An app with a secret and a resignations connector."""

    tenant_id: str
    app_id: str
    secret: str
    job_id: str


def make_tenant(
    store: Store,
    *,
    name: str = "hr-export",
    scenario: str = "resignations",
    header: list[str] | None = None,
) -> Tenant:
    """Register an app and a connector for ``scenario`` whose mapping fits ``header``."""
    tenant = identity.default_tenant(store)
    new = identity.create_app(store, name, tenant_id=tenant, expires_in_days=30)
    mapping = propose_mapping(header or HEADER, scenario)
    conn = connectors.create_connector(
        store, name=name, app_id=new.app.app_id, scenarios=[scenario], mapping=mapping
    )
    return Tenant(new.app.tenant_id, new.app.app_id, new.secret, conn.job_id)


def settings(db_url: str, **overrides: object) -> Settings:
    """Test settings (fast token lifetime defaults kept)."""
    values: dict[str, object] = {"access_log": False, **overrides}
    return Settings(db_url=db_url, **values)  # type: ignore[arg-type]


def resignations_csv(
    n: int, *, start: int = 0, crlf: bool = True, now: dt.datetime | None = None, remark: str = ""
) -> bytes:
    """``n`` valid resignation rows (dates inside the default window), header first."""
    base = (now or NOW).replace(microsecond=0, tzinfo=None)
    nl = "\r\n" if crlf else "\n"
    lines = [",".join(HEADER)]
    for i in range(start, start + n):
        resigned = base - dt.timedelta(days=30 + i % 50)
        last = resigned + dt.timedelta(days=14 + (len(remark) % 3))
        lines.append(f"user{i}@contoso.com,{resigned.isoformat()}Z,{last.isoformat()}Z")
    return (nl.join(lines) + nl).encode("utf-8")


def official_token_body(app_id: str, secret: str, tenant: str) -> bytes:
    """The form body sample_script.ps1 sends (Invoke-RestMethod with a hashtable body)."""
    from urllib.parse import quote_plus

    fields = {
        "client_id": app_id,
        "client_secret": secret,
        "grant_type": "client_credentials",
        "resource": RESOURCE,
        "tenant_id": tenant,
    }
    return "&".join(f"{k}={quote_plus(v)}" for k, v in fields.items()).encode()


def power_automate_token_body(app_id: str, secret: str, tenant: str) -> bytes:
    """The Power Automate template's hand-written form body, spaces and newlines included."""
    return (
        f"client_id = {app_id}&\nclient_secret = {secret}&\n"
        f"grant_type = client_credentials&\nresource = {RESOURCE}&\ntenantId = {tenant}"
    ).encode()


def dotnet_multipart(csv: bytes, *, index: int = 1) -> tuple[bytes, str]:
    """A body exactly as .NET's MultipartFormDataContent writes the script's chunk.

    Boundary quoted in the Content-Type, parameters unquoted in the part, ``filename*``,
    no part Content-Type, CRLF line breaks.
    """
    boundary = str(uuid.uuid4())
    name = f"tmp_{uuid.uuid4()}{index:04d}.txt"
    head = (
        f"--{boundary}\r\n"
        f"Content-Disposition: form-data; name=file; filename={name}; "
        f"filename*=utf-8''{name}\r\n\r\n"
    ).encode()
    body = head + csv + f"\r\n--{boundary}--\r\n".encode()
    return body, f'multipart/form-data; boundary="{boundary}"'


def power_automate_multipart(csv: bytes, filename: str = "HRData.csv") -> tuple[bytes, str]:
    """The Power Automate template's body: ``form-data;name = "file";filename=...``."""
    boundary = "hrsignal-pa-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data;name = "file";filename={filename}\r\n\r\n'
    ).encode()
    return head + csv + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )
